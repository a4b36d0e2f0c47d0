/*
 * files.c - a list's shared files by mail (the area itself, its name
 * rules and limits are common/listfiles.h):
 *
 *   files LIST                  names, sizes and dates (members)
 *   getfile LIST NAME           the file as a MIME attachment (members)
 *   putfile LIST PW NAME        store the message's attachment as NAME
 *   delfile LIST PW NAME        remove NAME
 *
 * Members, owners and moderators may read, as for the archive
 * (may_read()); others are refused. putfile and delfile take the list
 * password (owner_auth()).
 *
 * mail_attachment() takes the file out of a putfile message. Every byte
 * of it is hostile: only the top-level parts of a multipart message are
 * looked at (at most FILES_MAX_PARTS), a delimiter counts only as a whole
 * line (mail_next_delimiter()), base64 is decoded strictly (common/sasl.h) after
 * dropping line breaks, and nothing larger than the list's
 * file_max_size is ever decoded. Exports files_command() and
 * mail_attachment() (listd.h). Failures are said in the reply and
 * logged once.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "listd.h"
#include "listfiles.h"
#include "log.h"
#include "sasl.h"
#include "util.h"

#define FILES_MAX_PARTS 64
#define B64_LINE_BYTES 57            /* 76 characters a line */

/* How good a file part pm is: 2 attachment, 1 not text, 0 neither. */
static int
part_score(const struct mail *pm)
{
	struct buf v = BUF_INIT;
	int score = 0;

	if (mail_get(pm, "Content-Disposition", &v) &&
	    strncasecmp(v.data, "attachment", 10) == 0)
		score = 2;
	else if (mail_get(pm, "Content-Type", &v) &&
	    strncasecmp(v.data, "text/plain", 10) != 0 &&
	    strncasecmp(v.data, "multipart/", 10) != 0)
		score = 1;
	buf_free(&v);
	return score;
}

/* Decode the body of part pm by its Content-Transfer-Encoding. */
static int
decode_part(const struct mail *pm, size_t max, struct buf *out,
    struct buf *why)
{
	struct buf cte = BUF_INIT, b64 = BUF_INIT;
	const char *s = pm->body;
	size_t n = pm->body_len;
	int r = -1;

	/* The line break before the next delimiter belongs to it. */
	if (n > 0 && s[n - 1] == '\n')
		n--;
	if (n > 0 && s[n - 1] == '\r')
		n--;
	(void)mail_get(pm, "Content-Transfer-Encoding", &cte);
	if (strcasecmp(buf_cstr(&cte), "base64") == 0) {
		for (size_t i = 0; i < n; i++) {
			char ch = s[i];

			if (ch == '\r' || ch == '\n' || ch == ' ' || ch == '\t')
				continue;
			if (b64.len / 4 * 3 > max + 3) {
				buf_printf(why, "the file is larger than %zu "
				    "bytes", max);
				goto out;
			}
			buf_append_char(&b64, ch);
		}
		if (base64_decode(buf_cstr(&b64), b64.len, out) < 0) {
			buf_set(why, "the attachment is not valid base64");
			goto out;
		}
	} else if (cte.len == 0 || strcasecmp(cte.data, "7bit") == 0 ||
	    strcasecmp(cte.data, "8bit") == 0 ||
	    strcasecmp(cte.data, "binary") == 0) {
		buf_reset(out);
		if (n <= max)
			buf_append(out, s, n);
		else
			buf_printf(why, "the file is larger than %zu bytes",
			    max);
		if (n > max)
			goto out;
	} else {
		buf_printf(why, "attachments in %.40s are not taken; send it "
		    "as base64", cte.data);
		goto out;
	}
	if (out->len > max) {
		buf_printf(why, "the file is larger than %zu bytes", max);
		goto out;
	}
	r = 0;
out:
	buf_free(&cte);
	buf_free(&b64);
	return r;
}

int
mail_attachment(const struct mail *m, size_t max, struct buf *out,
    struct buf *why)
{
	struct buf ct = BUF_INIT, bnd = BUF_INIT, delim = BUF_INIT;
	const char *base = m->body, *end = m->body + m->body_len, *p;
	const char *best = NULL, *best_end = NULL;
	int best_score = 0, r = -1;
	unsigned parts = 0;

	buf_reset(out);
	if (!mail_get(m, "Content-Type", &ct) ||
	    strncasecmp(ct.data, "multipart/", 10) != 0 ||
	    !mail_boundary(ct.data, &bnd)) {
		buf_set(why, "no attachment: send the file attached to the "
		    "message (MIME)");
		goto out;
	}
	buf_printf(&delim, "--%s", bnd.data);
	p = mail_next_delimiter(base, end, base, &delim);
	while (p != NULL && best_score < 2) {
		const char *part = p + delim.len, *next;
		struct mail pm;
		int score;

		if (end - part >= 2 && part[0] == '-' && part[1] == '-')
			break;                  /* the close delimiter */
		if ((part = memchr(part, '\n', (size_t)(end - part))) == NULL)
			break;
		part++;
		if (++parts > FILES_MAX_PARTS) {
			buf_printf(why, "more than %d parts", FILES_MAX_PARTS);
			goto out;
		}
		next = mail_next_delimiter(part, end, base, &delim);
		mail_parse(part, (size_t)((next ? next : end) - part), &pm);
		score = part_score(&pm);
		mail_free(&pm);
		if (score > best_score) {
			best_score = score;
			best = part;
			best_end = next ? next : end;
		}
		p = next;
	}
	if (best == NULL) {
		buf_set(why, "no attachment: send the file attached to the "
		    "message (MIME)");
		goto out;
	}
	{
		struct mail pm;

		mail_parse(best, (size_t)(best_end - best), &pm);
		r = decode_part(&pm, max, out, why);
		mail_free(&pm);
	}
out:
	buf_free(&ct);
	buf_free(&bnd);
	buf_free(&delim);
	return r;
}

/* The list of a files command, and the requester allowed to read it. */
static const struct list_def *
reader_list(struct ctl *c, const struct cmd *cmd, size_t *next)
{
	const struct list_def *d = list_arg(c, cmd, next);

	if (d != NULL && !may_read(c, d, false)) {
		say(c, "Only members may fetch the files of %s.\n",
		    d->address);
		return NULL;
	}
	return d;
}

static void
cmd_files(struct ctl *c, const struct cmd *cmd)
{
	const struct list_def *d;
	struct list_file *fs = NULL;
	struct buf err = BUF_INIT;
	size_t next, n = 0;

	if ((d = reader_list(c, cmd, &next)) == NULL)
		return;
	if (list_files_all(c->ld->conf, d, &fs, &n, &err) < 0) {
		log_error("event=list-failed list=%s reason=\"%s\"",
		    d->address, err.data);
		say(c, "Temporary failure.\n");
	} else if (n == 0) {
		say(c, "%s has no files.\n", d->address);
	} else {
		say(c, "Files of %s (%zu):\n", d->address, n);
		for (size_t i = 0; i < n; i++) {
			buf_append_str(&c->reply, "  ");
			list_file_line(&fs[i], &c->reply);
		}
		say(c, "Send \"getfile %s NAME\" for one.\n", d->name);
	}
	free(fs);
	buf_free(&err);
}

/* The file (len bytes) as a multipart/mixed message to the requester. */
static int
send_file(struct ctl *c, const struct list_def *d, const char *name,
    const struct buf *data)
{
	struct buf out = BUF_INIT, v = BUF_INIT, req = BUF_INIT;
	struct buf bounces = BUF_INIT;
	const char *rcpt[1] = { c->requester };
	char bnd[LISTD_TOKEN_LEN + 1];
	int r;

	token_generate(bnd);
	list_addr(d, "-request", &req);
	list_addr(d, "-bounces", &bounces);
	rfc5322_date(time(NULL), false, &v);
	buf_printf(&out, "Date: %s\nFrom: %s\nTo: %s\nSubject: %s file %s\n",
	    v.data, req.data, c->requester, d->name, name);
	buf_reset(&v);
	message_id(c->ld->conf->hostname, &v);
	buf_printf(&out, "Message-ID: %s\nMIME-Version: 1.0\nContent-Type: "
	    "multipart/mixed; boundary=\"=_dlist_%s\"\nAuto-Submitted: "
	    "auto-replied\n\nThis is a MIME message.\n\n--=_dlist_%s\n"
	    "Content-Type: text/plain; charset=us-ascii\n\nThe file %s of "
	    "%s (%zu bytes) is attached.\n\n--=_dlist_%s\nContent-Type: "
	    "application/octet-stream; name=\"%s\"\nContent-Transfer-"
	    "Encoding: base64\nContent-Disposition: attachment; filename="
	    "\"%s\"\n\n", v.data, bnd, bnd, name, d->address, data->len, bnd,
	    name, name);
	for (size_t i = 0; i < data->len; i += B64_LINE_BYTES) {
		size_t n = data->len - i < B64_LINE_BYTES ? data->len - i :
		    B64_LINE_BYTES;

		base64_encode(data->data + i, n, &out);
		buf_append_char(&out, '\n');
	}
	buf_printf(&out, "\n--=_dlist_%s--\n", bnd);
	r = send_mail(c->ld, bounces.data, rcpt, 1, out.data, out.len);
	buf_free(&out);
	buf_free(&v);
	buf_free(&req);
	buf_free(&bounces);
	return r;
}

static void
cmd_getfile(struct ctl *c, const struct cmd *cmd)
{
	const struct list_def *d;
	struct buf data = BUF_INIT, err = BUF_INIT;
	const char *name;
	size_t next;
	int r;

	if ((d = reader_list(c, cmd, &next)) == NULL)
		return;
	if (next + 1 != cmd->nargs) {
		say(c, "Usage: getfile LIST NAME\n");
		return;
	}
	name = cmd->args[next];
	r = list_file_get(c->ld->conf, d, name, &data, &err);
	if (r == LIST_FILE_REFUSED)
		say(c, "%s.\n", err.data);
	else if (r == 0)
		say(c, "%s has no file %s. Send \"files %s\" for the list.\n",
		    d->address, name, d->name);
	else if (r < 0 || send_file(c, d, name, &data) < 0)
		say(c, "Temporary failure.\n");
	else
		say(c, "The file %s (%zu bytes) was sent separately.\n", name,
		    data.len);
	if (r < 0 && r != LIST_FILE_REFUSED)
		log_error("event=list-failed list=%s reason=\"%s\"",
		    d->address, err.data);
	buf_free(&data);
	buf_free(&err);
}

/* putfile LIST PW NAME and delfile LIST PW NAME. */
static void
cmd_putfile(struct ctl *c, const struct cmd *cmd, bool put)
{
	const struct list_def *d;
	struct buf data = BUF_INIT, err = BUF_INIT;
	const char *name;
	size_t next;
	int r;

	if ((d = list_arg(c, cmd, &next)) == NULL)
		return;
	if (next + 2 != cmd->nargs) {
		say(c, "Usage: %s LIST PASSWORD NAME\n", put ? "putfile" :
		    "delfile");
		return;
	}
	if (!owner_auth(c, d, cmd->args[next]))
		return;
	name = cmd->args[next + 1];
	if (put && mail_attachment(c->msg, (size_t)d->file_max_size, &data,
	    &err) < 0) {
		say(c, "Nothing stored: %s.\n", err.data);
		goto out;
	}
	r = put ? list_file_put(c->ld->conf, d, name, data.data ? data.data :
	    "", data.len, &err) : list_file_delete(c->ld->conf, d, name, &err);
	if (r == LIST_FILE_REFUSED) {
		say(c, "Refused: %s.\n", err.data);
	} else if (r < 0) {
		log_error("event=list-failed list=%s reason=\"%s\"",
		    d->address, err.data);
		say(c, "Temporary failure; nothing changed.\n");
	} else if (!put && r == 0) {
		say(c, "%s has no file %s.\n", d->address, name);
	} else {
		log_info("action=command list=%s requester=<%s> command=%s "
		    "path=%s status=ok", d->address, c->requester, put ?
		    "putfile" : "delfile", name);
		if (put)
			say(c, "Stored %s (%zu bytes) in the files of %s.\n",
			    name, data.len, d->address);
		else
			say(c, "Deleted %s from the files of %s.\n", name,
			    d->address);
	}
out:
	buf_free(&data);
	buf_free(&err);
}

void
files_command(struct ctl *c, const struct cmd *cmd)
{
	switch (cmd->kind) {
	case CMD_FILES:
		cmd_files(c, cmd);
		break;
	case CMD_GETFILE:
		cmd_getfile(c, cmd);
		break;
	case CMD_PUTFILE:
		cmd_putfile(c, cmd, true);
		break;
	case CMD_DELFILE:
		cmd_putfile(c, cmd, false);
		break;
	default:
		break;
	}
}
