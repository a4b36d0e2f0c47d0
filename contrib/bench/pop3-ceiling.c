/*
 * pop3-ceiling.c - a POP3 responder that does no work, to measure what the
 * machine and the load generator allow.
 *
 * It forks a process per connection (as DMail's workers serve one session
 * each), accepts any USER and PASS, says every mailbox has MESSAGES
 * messages, and answers each RETR with the same 4 KB message from memory:
 * one read() and one write() per command, no file system, no parsing
 * beyond the verb. What dmail-bench reaches against it is the ceiling for
 * any real server on the same machine with the same client settings.
 *
 *   cc -O2 -o pop3-ceiling contrib/bench/pop3-ceiling.c
 *   ./pop3-ceiling 3700 6000 &
 *   dmail-bench pop3 -H 127.0.0.1 -p 3700 -c 10 -l 1 -u 'u%d' -w x
 *
 * Not part of DMail and not installed: a benchmark aid only.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char body_line[] =
    "0123456789012345678901234567890123456789"
    "012345678901234567890123456789012345678\r\n";

static void
send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n <= 0)
			_exit(0);
		p += n;
		len -= (size_t)n;
	}
}

static void
serve(int fd, const char *retr, size_t retr_len, unsigned long messages)
{
	char in[4096], out[128];
	size_t have = 0;

	send_all(fd, "+OK ready\r\n", 11);
	for (;;) {
		ssize_t n = read(fd, in + have, sizeof(in) - have);
		char *nl;

		if (n <= 0)
			_exit(0);
		have += (size_t)n;
		while ((nl = memchr(in, '\n', have)) != NULL) {
			size_t len = (size_t)(nl - in) + 1;

			if (strncmp(in, "RETR", 4) == 0)
				send_all(fd, retr, retr_len);
			else if (strncmp(in, "STAT", 4) == 0) {
				int k = snprintf(out, sizeof(out),
				    "+OK %lu %lu\r\n", messages,
				    messages * 4362);
				send_all(fd, out, (size_t)k);
			} else if (strncmp(in, "QUIT", 4) == 0) {
				send_all(fd, "+OK bye\r\n", 9);
				_exit(0);
			} else
				send_all(fd, "+OK\r\n", 5);
			memmove(in, in + len, have - len);
			have -= len;
		}
		if (have == sizeof(in))
			_exit(1);       /* line too long: not a benchmark */
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa;
	char retr[8192];
	size_t retr_len;
	int one = 1, lfd;

	if (argc != 3) {
		fprintf(stderr, "usage: pop3-ceiling PORT MESSAGES\n");
		return 2;
	}
	retr_len = (size_t)snprintf(retr, sizeof(retr), "+OK 4362 octets\r\n");
	while (retr_len < 4300) {
		memcpy(retr + retr_len, body_line, sizeof(body_line) - 1);
		retr_len += sizeof(body_line) - 1;
	}
	memcpy(retr + retr_len, ".\r\n", 3);
	retr_len += 3;

	signal(SIGCHLD, SIG_IGN);   /* no zombies */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 128) < 0) {
		perror("pop3-ceiling");
		return 1;
	}
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			continue;
		if (fork() == 0) {
			close(lfd);
			serve(fd, retr, retr_len, strtoul(argv[2], NULL, 10));
		}
		close(fd);
	}
}
