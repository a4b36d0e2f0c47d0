"""directory_common - throw-away directory servers for the account backend
tests (issue 15): a PostgreSQL cluster made with initdb and an OpenLDAP
slapd with a test suffix, both on a free loopback port in a temporary
directory, started and stopped by the test.

As root, both servers run as the "postgres" / "openldap" system users
(PostgreSQL refuses to run as root). Tests SKIP with the reason when the
server programs, or the backend in this build, are missing.

routing_cases() is the test of local domains, aliases and forwards held
in the directory, shared by both backends: each server class offers
add_user, add_domain and add_alias for it.
"""

import glob
import os
import smtplib
import pwd
import shutil
import subprocess
import tempfile
import warnings

import dmailtest as dt

TOP_SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA_SQL = os.path.join(TOP_SRC, "contrib", "pgsql", "schema.sql")
LDAP_SCHEMA = os.path.join(TOP_SRC, "contrib", "ldap", "dmail.schema")
SUFFIX = "dc=example,dc=test"
ADMIN_DN = "cn=admin," + SUFFIX
ADMIN_PW = "adminpw"


def crypt_hash(password):
    """A SHA-512 crypt(3) hash, as dmail-user makes them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import crypt
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))


def config_has(name):
    """True when config.h of the build says HAVE_<name>."""
    path = os.path.join(dt.BUILDDIR, "config.h")
    try:
        with open(path) as f:
            return ("#define HAVE_%s 1" % name) in f.read()
    except OSError:
        return False


def _as_user(user):
    """preexec_fn dropping to user when root; None otherwise."""
    if os.geteuid() != 0:
        return None
    pw = pwd.getpwnam(user)

    def drop():
        os.setgid(pw.pw_gid)
        os.initgroups(user, pw.pw_gid)
        os.setuid(pw.pw_uid)
    return drop


def _chown_tree(path, user):
    if os.geteuid() != 0:
        return
    pw = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for n in files:
            os.chown(os.path.join(root, n), pw.pw_uid, pw.pw_gid)


class _Throwaway:
    """A server in self.tmp that stop() ends; removed on leaving."""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


class Postgres(_Throwaway):
    """A PostgreSQL cluster on 127.0.0.1:port, trust authentication, the
    DMail schema loaded into database "dmail"."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise dt.SkipTest("PostgreSQL server not installed "
                              "(Debian package postgresql)")
        if not config_has("LIBPQ"):
            raise dt.SkipTest("built without libpq (libpq-dev)")
        if not shutil.which("psql"):
            raise dt.SkipTest("psql not installed (postgresql-client)")
        self.bindir = os.path.dirname(bins[-1])
        self.tmp = tempfile.mkdtemp(prefix="dmail-pg-")
        os.chmod(self.tmp, 0o755)
        self.data = os.path.join(self.tmp, "data")
        self.port = dt.free_port()
        self.user = "postgres"
        _chown_tree(self.tmp, self.user)
        self._run([os.path.join(self.bindir, "initdb"), "-D", self.data,
                   "-U", "dmail", "--auth=trust", "-E", "UTF8",
                   "--no-sync"])
        self.proc = None
        self.start()
        self.psql_admin("CREATE DATABASE dmail", db="postgres")
        self.psql_file(SCHEMA_SQL)
        self.conninfo = ("host=127.0.0.1 port=%d dbname=dmail user=dmail "
                         "connect_timeout=3" % self.port)

    def _run(self, argv, **kw):
        return subprocess.run(argv, check=True, capture_output=True,
                              preexec_fn=_as_user(self.user), **kw)

    def start(self):
        log = open(os.path.join(self.tmp, "postgres.log"), "ab")
        self.proc = subprocess.Popen(
            [os.path.join(self.bindir, "postgres"), "-D", self.data,
             "-p", str(self.port), "-h", "127.0.0.1", "-k", self.tmp,
             "-c", "fsync=off"],
            stdout=log, stderr=log, preexec_fn=_as_user(self.user))
        dt.wait_for(lambda: self.proc.poll() is not None or
                    self._ready(), 30, what="postgres ready")
        if self.proc.poll() is not None:
            raise AssertionError("postgres exited: see %s" % self.tmp)

    def _ready(self):
        return subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "dmail",
             "-d", "postgres", "-c", "SELECT 1"],
            capture_output=True).returncode == 0

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            # Fast shutdown: a smart one would wait for DMail's workers,
            # which keep their connections open.
            self.proc.send_signal(2)
            self.proc.wait(30)
        self.proc = None

    def psql_admin(self, sql, db="dmail"):
        return subprocess.run(
            ["psql", "-v", "ON_ERROR_STOP=1", "-q", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", "dmail", "-d", db, "-c", sql],
            check=True, capture_output=True, text=True).stdout

    def psql_file(self, path):
        subprocess.run(
            ["psql", "-v", "ON_ERROR_STOP=1", "-q", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", "dmail", "-d", "dmail", "-f", path],
            check=True, capture_output=True)

    def add_user(self, address, password, quota_bytes=0, enabled=True):
        self.psql_admin(
            "INSERT INTO users (address, password, quota_bytes, enabled) "
            "VALUES ('%s', '%s', %d, %s)" % (address, crypt_hash(password),
                                             quota_bytes,
                                             "true" if enabled else "false"))

    def add_domain(self, domain):
        self.psql_admin("INSERT INTO domains (domain) VALUES ('%s')" % domain)

    def add_alias(self, address, targets):
        for t in targets:
            self.psql_admin("INSERT INTO aliases (address, target) "
                            "VALUES ('%s', '%s')" % (address, t))

    def conf(self):
        return "userdb_backend pgsql\npgsql_conninfo %s\n" % self.conninfo


class Slapd(_Throwaway):
    """An OpenLDAP slapd on ldap://127.0.0.1:port with suffix SUFFIX (mdb),
    the DMail schema, and entries added with slapadd."""

    def __init__(self):
        if not shutil.which("slapd") and not os.path.exists(
                "/usr/sbin/slapd"):
            raise dt.SkipTest("slapd not installed (Debian package slapd)")
        if not shutil.which("slapadd") or not shutil.which("ldapsearch"):
            raise dt.SkipTest("slapadd/ldapsearch missing (slapd, "
                              "ldap-utils)")
        if not config_has("LIBLDAP"):
            raise dt.SkipTest("built without libldap (libldap-dev)")
        self.tmp = tempfile.mkdtemp(prefix="dmail-ldap-")
        os.chmod(self.tmp, 0o755)
        self.db = os.path.join(self.tmp, "db")
        os.mkdir(self.db)
        self.port = dt.free_port()
        self.uri = "ldap://127.0.0.1:%d" % self.port
        self.user = "openldap"
        try:
            pwd.getpwnam(self.user)
        except KeyError:
            self.user = "root"
        self.conf_path = os.path.join(self.tmp, "slapd.conf")
        schema = "/etc/ldap/schema"
        mods = [m for m in ("/usr/lib/ldap/back_mdb.la",) if os.path.exists(m)]
        with open(self.conf_path, "w") as f:
            for s in ("core", "cosine", "inetorgperson", "nis"):
                f.write("include %s/%s.schema\n" % (schema, s))
            f.write("include %s\n" % LDAP_SCHEMA)
            f.write("pidfile %s/slapd.pid\n" % self.tmp)
            if mods:
                f.write("modulepath /usr/lib/ldap\nmoduleload back_mdb\n")
            f.write("database mdb\nmaxsize 10485760\nsuffix \"%s\"\n"
                    "rootdn \"%s\"\nrootpw %s\ndirectory %s\n"
                    "index mail,mailAlternateAddress,associatedDomain eq\n"
                    % (SUFFIX, ADMIN_DN, ADMIN_PW, self.db))
        self.entries = ["dn: %s\nobjectClass: dcObject\nobjectClass: "
                        "organization\ndc: example\no: example\n" % SUFFIX,
                        "dn: ou=people,%s\nobjectClass: organizationalUnit\n"
                        "ou: people\n" % SUFFIX]
        self.proc = None
        self.pwfile = os.path.join(self.tmp, "bindpw")
        with open(self.pwfile, "w") as f:
            f.write(ADMIN_PW + "\n")
        os.chmod(self.pwfile, 0o644)

    @staticmethod
    def user_ldif(address, password, alt=(), quota_bytes=None, status=None):
        uid = address.split("@")[0]
        lines = ["dn: uid=%s,ou=people,%s" % (uid, SUFFIX),
                 "objectClass: inetOrgPerson", "objectClass: dmailAccount",
                 "uid: %s" % uid, "cn: %s" % uid, "sn: %s" % uid,
                 "mail: %s" % address,
                 "userPassword: {CRYPT}%s" % crypt_hash(password)]
        lines += ["mailAlternateAddress: %s" % a for a in alt]
        if quota_bytes is not None:
            lines.append("mailQuotaBytes: %d" % quota_bytes)
        if status is not None:
            lines.append("accountStatus: %s" % status)
        return "\n".join(lines) + "\n"

    def load(self, *ldifs):
        """slapadd the base entries and ldifs (before start())."""
        path = os.path.join(self.tmp, "data.ldif")
        with open(path, "w") as f:
            f.write("\n".join(self.entries + list(ldifs)))
        subprocess.run(["slapadd", "-f", self.conf_path, "-l", path],
                       check=True, capture_output=True)
        _chown_tree(self.tmp, self.user)

    @staticmethod
    def domain_ldif(domain):
        label = domain.split(".")[0]
        return ("dn: dc=%s,%s\nobjectClass: dNSDomain\nobjectClass: "
                "domainRelatedObject\ndc: %s\nassociatedDomain: %s\n"
                % (label, SUFFIX, label, domain))

    @staticmethod
    def alias_ldif(address, targets):
        return ("dn: mail=%s,ou=people,%s\nobjectClass: dmailAlias\n"
                "mail: %s\n" % (address, SUFFIX, address) +
                "".join("mailForwardingAddress: %s\n" % t for t in targets))

    def add_user(self, address, password):
        self.ldapadd(self.user_ldif(address, password))

    def add_domain(self, domain):
        self.ldapadd(self.domain_ldif(domain))

    def add_alias(self, address, targets):
        self.ldapadd(self.alias_ldif(address, targets))

    def ldapadd(self, ldif):
        subprocess.run(["ldapadd", "-x", "-H", self.uri, "-D", ADMIN_DN,
                        "-w", ADMIN_PW], input=ldif, text=True, check=True,
                       capture_output=True)

    def start(self):
        argv = ["/usr/sbin/slapd", "-d", "0", "-f", self.conf_path,
                "-h", self.uri]
        if os.geteuid() == 0:
            argv += ["-u", self.user]
        log = open(os.path.join(self.tmp, "slapd.log"), "ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log)
        dt.wait_for(lambda: self.proc.poll() is not None or
                    dt.port_listening(self.port), 20, what="slapd listening")
        if self.proc.poll() is not None:
            raise AssertionError("slapd exited: see %s/slapd.log" % self.tmp)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.proc = None

    def conf(self):
        return ("userdb_backend ldap\nldap_uri %s\nldap_base %s\n"
                "ldap_bind_dn %s\nldap_bind_password_file %s\n"
                % (self.uri, SUFFIX, ADMIN_DN, self.pwfile))


# Small TTLs: the cache is used, and a change shows within a second.
ROUTING_CACHE = ("userdb_cache_ttl 1\nuserdb_cache_negative_ttl 1\n"
                 "userdb_timeout 3\n")


def routing_cases(d):
    """Local domains, aliases and forwards in the running directory d
    (Postgres or Slapd, started, no dir.test entries yet): a domain added
    while dmaild runs takes mail without a reload, an alias reaches its
    target's Maildir, a forward to a remote address is relayed (to a
    sink), an alias of dmail.conf wins over the directory's, a domain that is nobody's is still refused, and the directory
    stopped gives 451 4.3.0 for its domain, 250 again once it is back."""
    import sink
    from userdb_pgsql import rcpt, send
    out = sink.Sink()
    out.start()
    try:
        d.add_user("dora@dir.test", "pw-dora")
        extra = (d.conf() + ROUTING_CACHE +
                 "alias over@dir.test dora@dir.test\n"
                 "smtp_program %s\nqueue_program %s\n"
                 "transport remote.test [127.0.0.1]:%d\n"
                 "client_connection_limit 0\nclient_connection_rate_limit 0\n"
                 % (dt.SMTPD, dt.prog("queued/dmail-queued"), out.port))
        extra += "submission_sender_check strict\n"
        with dt.Server(smtp=True, submission=True,
                       workers={"smtp": (1, 1, 1000)},
                       extra=extra) as srv:
            code, text = rcpt(srv, "dora@dir.test")
            assert code == 554 and b"5.7.1" in text, (code, text)
            d.add_domain("dir.test")
            dt.wait_for(lambda: rcpt(srv, "dora@dir.test")[0] == 250, 15,
                        what="dir.test local without a reload")
            send(srv, "dora@dir.test")
            srv.wait_messages("dora@dir.test", 1)
            code, text = rcpt(srv, "nobody@dir.test")
            assert code == 550 and b"5.1.1" in text, (code, text)
            code, text = rcpt(srv, "x@other.test")
            assert code == 554 and b"5.7.1" in text, (code, text)
            d.add_alias("team@dir.test", ["dora@dir.test"])
            d.add_alias("fwd@dir.test", ["far@remote.test"])
            d.add_alias("over@dir.test", ["far@remote.test"])
            dt.wait_for(lambda: rcpt(srv, "team@dir.test")[0] == 250 and
                        rcpt(srv, "fwd@dir.test")[0] == 250, 15,
                        what="aliases seen")
            send(srv, "team@dir.test")
            srv.wait_messages("dora@dir.test", 2)
            # Submission: dora may send as an alias of hers in the
            # directory, not as another address of the domain.
            with smtplib.SMTP("127.0.0.1", srv.port("submission"),
                              timeout=20) as s:
                s.ehlo("client.test")
                s.login("dora@dir.test", "pw-dora")
                assert s.mail("team@dir.test")[0] == 250
                s.rset()
                code, _ = s.mail("nobody@dir.test")
                assert code == 553, code
            assert not srv.maildir_messages("team@dir.test")
            # dmail.conf's alias comes before the directory's.
            send(srv, "over@dir.test")
            srv.wait_messages("dora@dir.test", 3)
            send(srv, "fwd@dir.test")
            dt.wait_for(lambda: any("far@remote.test" in str(m.rcpts)
                                    for m in out.messages), 30,
                        what="forward relayed to the sink")
            assert len(out.messages) == 1, out.messages
            d.stop()
            dt.wait_for(lambda: rcpt(srv, "team@dir.test")[0] == 451, 15,
                        what="451 once the cache entry is stale")
            code, text = rcpt(srv, "dora@dir.test")
            assert code == 451 and b"4.3.0" in text, (code, text)
            d.start()
            dt.wait_for(lambda: rcpt(srv, "team@dir.test")[0] == 250, 20,
                        what="RCPT accepted again")
            assert rcpt(srv, "nobody@dir.test")[0] == 550
    finally:
        out.stop()
