/*
 * control_client.c - one request to the master's control socket (see
 * control_client.h). Non-blocking socket, one deadline for the whole
 * exchange.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control_client.h"
#include "util.h"

/* Wait until fd is ready for events; false on timeout or error. */
static bool
wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int64_t left = deadline - now_ms();
		int n;

		if (left <= 0)
			return false;
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return true;
		if (n < 0 && errno != EINTR)
			return false;
	}
}

static int
send_line(int fd, const struct buf *req, int64_t deadline, struct buf *err)
{
	for (size_t off = 0; off < req->len;) {
		ssize_t n = send(fd, req->data + off, req->len - off,
		    MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR) &&
		    wait_fd(fd, POLLOUT, deadline))
			continue;
		buf_printf(err, "sending to dmaild: %s",
		    n < 0 ? strerror(errno) : "connection closed");
		return -1;
	}
	return 0;
}

static int
read_answer(int fd, struct buf *reply, int64_t deadline, struct buf *err)
{
	for (;;) {
		char chunk[8192];
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);

		if (n > 0) {
			if (reply->len + (size_t)n > CONTROL_REPLY_MAX) {
				buf_set(err, "answer too long");
				return -1;
			}
			buf_append(reply, chunk, (size_t)n);
			continue;
		}
		if (n == 0)
			break;
		if ((errno == EAGAIN || errno == EINTR) &&
		    wait_fd(fd, POLLIN, deadline))
			continue;
		buf_printf(err, "reading from dmaild: %s",
		    errno == EAGAIN ? "timed out" : strerror(errno));
		return -1;
	}
	if (reply->len == 0) {
		buf_set(err, "dmaild closed the connection without answering");
		return -1;
	}
	return 0;
}

int
control_request(const char *socket_path, const char *line,
    struct buf *reply, struct buf *err)
{
	struct sockaddr_un sun;
	struct buf req = BUF_INIT;
	int fd, rc = -1;

	buf_reset(reply);
	if (strlen(socket_path) >= sizeof(sun.sun_path)) {
		buf_printf(err, "%s: path too long", socket_path);
		return CONTROL_BAD_PATH;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, socket_path, strlen(socket_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		if (e == EACCES || e == EPERM) {
			buf_printf(err, "permission denied on %s", socket_path);
			return CONTROL_NO_RIGHTS;
		}
		buf_printf(err, "dmaild is not running (%s: %s)", socket_path,
		    strerror(e));
		return CONTROL_FAILED;
	}
	fd_set_nonblock(fd, true);
	buf_printf(&req, "%s\n", line);
	{
		int64_t deadline = now_ms() + CONTROL_TIMEOUT_MS;

		if (send_line(fd, &req, deadline, err) == 0 &&
		    read_answer(fd, reply, deadline, err) == 0)
			rc = 0;
	}
	close(fd);
	buf_free(&req);
	return rc;
}

bool
control_reply_ok(const struct buf *reply)
{
	return reply->len >= 3 && strncmp(reply->data, "+OK", 3) == 0;
}
