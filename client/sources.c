/* sources: see sources.h. */
#include "sources.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ports of each source kept for others: the load's own connections and
 * whatever else on the machine talks from the same address. */
#define PORTS_KEPT 1000
/* 127.0.0.2 to 127.0.0.254 besides 127.0.0.1. */
#define MAX_SOURCES 254
#define PORT_RANGE_FILE "/proc/sys/net/ipv4/ip_local_port_range"
/* The kernel's default range, if the file cannot be read. */
#define DEFAULT_PORTS (60999 - 32768 + 1)

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* How many connections one source address can open to one server address.
 * ECHOLAB_PORTS_PER_SOURCE overrides it, so that the tests can see the spread
 * without opening tens of thousands of connections. */
static unsigned long ports_per_source(void)
{
	const char *forced = getenv("ECHOLAB_PORTS_PER_SOURCE");
	if (forced && *forced) {
		unsigned long n = strtoul(forced, NULL, 10);
		if (n > 0)
			return n;
	}
	unsigned long lo = 0, hi = 0;
	FILE *f = fopen(PORT_RANGE_FILE, "r");
	if (f) {
		char line[64];
		if (fgets(line, sizeof line, f)) {
			char *end;
			lo = strtoul(line, &end, 10);
			hi = strtoul(end, NULL, 10);
		}
		fclose(f);
	}
	unsigned long ports = hi > lo ? hi - lo + 1 : DEFAULT_PORTS;
	return ports > 2 * PORTS_KEPT ? ports - PORTS_KEPT : ports / 2;
}

static bool on_ipv4_loopback(const struct endpoint *ep)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)&ep->addr;
	return ep->addr.ss_family == AF_INET && (ntohl(in->sin_addr.s_addr) >> 24) == 127;
}

bool sources_plan(struct sources *s, const struct endpoint *ep, unsigned long n)
{
	s->per_source = ports_per_source();
	s->count = (unsigned)((n + s->per_source - 1) / s->per_source);
	if (s->count <= 1) {
		s->count = 1;
		return true;
	}
	if (!on_ipv4_loopback(ep)) {
		fprintf(stderr, "echo-client: %lu connections to one server need more local ports "
		        "than one source address has (%lu, net.ipv4.ip_local_port_range); the "
		        "client spreads them over 127.0.0.x, so the server must listen on "
		        "127.0.0.1 (--host 127.0.0.1)\n", n, s->per_source);
		return false;
	}
	if (s->count > MAX_SOURCES) {
		fprintf(stderr, "echo-client: %lu connections need %u source addresses of %lu ports "
		        "each; at most %d\n", n, s->count, s->per_source, MAX_SOURCES);
		return false;
	}
	return true;
}

bool sources_bind(const struct sources *s, int fd, unsigned long i)
{
	unsigned source = (unsigned)(i / s->per_source);
	if (source == 0)
		return true;
	int one = 1;
	struct sockaddr_in from = { .sin_family = AF_INET,
	                            .sin_addr.s_addr = htonl(0x7f000001u + source) };
	return setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) == 0
	       && bind(fd, (const struct sockaddr *)&from, sizeof from) == 0;
}
