/*
 * dkim-cost.c - the cost of DKIM signing and verification per message
 * (common/dkim.c, common/dkim_verify.c), in microseconds, for messages
 * of a few sizes. Built and run by contrib/bench/dkim-cost.sh, which
 * makes the keys and serves their records from t/dnsserver.py.
 *
 *     dkim-cost RESOLV_CONF KEYFILE DOMAIN SELECTOR COUNT
 *
 * Prints one line per message size: sign_us (dkim_sign()) and
 * verify_us (dkim_verify(), including its one TXT query to the test
 * DNS server on loopback).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dkim.h"
#include "dkim_verify.h"
#include "dns.h"

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int
main(int argc, char **argv)
{
	static const size_t sizes[] = { 2000, 20000, 200000 };
	struct buf err = BUF_INIT, msg = BUF_INIT, sig = BUF_INIT;
	struct buf signed_msg = BUF_INIT;
	struct dns_resolver *r;
	struct dkim_key *k;
	int count;

	if (argc != 6)
		return 2;
	count = atoi(argv[5]);
	if ((r = dns_open(argv[1], &err)) == NULL ||
	    (k = dkim_key_load(argv[2], &err)) == NULL) {
		fprintf(stderr, "%s\n", buf_cstr(&err));
		return 1;
	}
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		double t0, sign_us, verify_us;
		struct dkim_sig res[1];

		buf_reset(&msg);
		buf_printf(&msg, "From: a@%s\nTo: b@example.org\nSubject: "
		    "bench\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
		    "Message-ID: <1@%s>\n\n", argv[3], argv[3]);
		while (msg.len < sizes[s])
			buf_append_str(&msg, "The quick brown fox jumps over "
			    "the lazy dog,  again and again.\n");
		t0 = now_us();
		for (int i = 0; i < count; i++)
			if (dkim_sign(k, argv[3], argv[4], time(NULL),
			    msg.data, msg.len, &sig, &err) < 0)
				return 1;
		sign_us = (now_us() - t0) / count;
		buf_reset(&signed_msg);
		buf_append(&signed_msg, sig.data, sig.len);
		buf_append(&signed_msg, msg.data, msg.len);
		t0 = now_us();
		for (int i = 0; i < count; i++)
			if (dkim_verify(r, signed_msg.data, signed_msg.len,
			    time(NULL), res, 1) != 1 ||
			    res[0].result != DKIM_PASS) {
				fprintf(stderr, "verify: %s\n", res[0].reason);
				return 1;
			}
		verify_us = (now_us() - t0) / count;
		printf("alg=%s size=%zu sign_us=%.0f verify_us=%.0f\n",
		    dkim_key_algorithm(k), msg.len, sign_us, verify_us);
	}
	return 0;
}
