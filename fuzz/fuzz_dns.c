/*
 * fuzz_dns.c - libFuzzer target: DNS answers as res_query() returns them
 * from whatever server answers, all parsed by common/dns.c: MX records
 * (dns_parse_mx(), then the null-MX test and sorting), A and AAAA
 * records (dns_parse_addrs()), and TXT records (dns_parse_txt()), each
 * read as a DMARC record (common/dmarc.c's dmarc_record_parse()).
 *
 * Input: one byte choosing the record type (low two bits: MX, A, AAAA,
 * TXT), then the raw DNS message. Checks: MX host names are at most
 * DNS_NAME_MAX and NUL-terminated; addresses have the family asked for
 * and its length; a DMARC record parsed has known policies.
 */
#include "config.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dmarc.h"
#include "dns.h"
#include "fuzz.h"

static long
zero(void)
{
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *msg = data + 1;
	int len = (int)(size - 1);
	struct dns_mx *mx = NULL;
	struct dns_addr *addrs = NULL;
	struct buf *txt = NULL, err = BUF_INIT;
	struct dmarc_record rec;
	size_t count = 0;
	int family;

	if (size < 1 || size > 65536)
		return 0;
	switch (data[0] & 3) {
	case 0:
		if (dns_parse_mx(msg, len, &mx, &count) == 0) {
			for (size_t i = 0; i < count; i++)
				if (memchr(mx[i].host, '\0',
				    sizeof(mx[i].host)) == NULL ||
				    mx[i].pref > 65535)
					abort();
			(void)dns_is_null_mx(mx, count);
			dns_sort_mx(mx, count, zero);
			for (size_t i = 1; i < count; i++)
				if (mx[i - 1].pref > mx[i].pref)
					abort();
			free(mx);
		}
		break;
	case 1:
	case 2:
		family = (data[0] & 3) == 1 ? AF_INET : AF_INET6;
		(void)dns_parse_addrs(msg, len, family, 25, &addrs, &count);
		for (size_t i = 0; i < count; i++)
			if (addrs[i].ss.ss_family != family ||
			    addrs[i].len != (family == AF_INET ?
			    sizeof(struct sockaddr_in) :
			    sizeof(struct sockaddr_in6)))
				abort();
		free(addrs);
		break;
	default:
		if (dns_parse_txt(msg, len, &txt, &count) < 0)
			break;
		for (size_t i = 0; i < count; i++)
			if (dmarc_record_parse(txt[i].data != NULL ?
			    txt[i].data : "", txt[i].len, &rec, &err) == 0 &&
			    (rec.p > DMARC_P_REJECT || rec.sp > DMARC_P_REJECT))
				abort();
		dns_txt_free(txt, count);
		break;
	}
	buf_free(&err);
	return 0;
}
