/* report: see report.h.
 *
 * Rates are per second of the measured window; MB are 10^6 bytes of echoes
 * (what came back, checked), not of what was sent. Latencies are printed in
 * microseconds from the nanosecond histogram.
 */
#include "report.h"

#include <stdbool.h>
#include <stdio.h>

#include "schedule.h"

struct figures {
	double messages_per_sec, mb_per_sec;
	double p50, p90, p99, p999, max; /* microseconds */
	bool open_loop, kept;            /* kept: the open-loop schedule was kept */
	double behind_ms;
};

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static struct figures compute(const struct load_opts *o, const struct load_result *r)
{
	struct figures f = { 0 };
	if (r->duration_s > 0) {
		f.messages_per_sec = (double)r->messages / r->duration_s;
		f.mb_per_sec = (double)r->messages * (double)o->size / 1e6 / r->duration_s;
	}
	f.p50 = us(histogram_percentile(&r->latency, 50.0));
	f.p90 = us(histogram_percentile(&r->latency, 90.0));
	f.p99 = us(histogram_percentile(&r->latency, 99.0));
	f.p999 = us(histogram_percentile(&r->latency, 99.9));
	f.max = us(histogram_max(&r->latency));
	f.open_loop = o->rate > 0;
	f.kept = !f.open_loop || schedule_kept(r->messages, r->scheduled);
	f.behind_ms = (double)r->behind_ns / 1e6;
	return f;
}

/* error_detail can quote a server's line, so it may hold any byte. */
static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void print_json(const struct load_opts *o, const struct load_result *r,
                       const struct figures *f)
{
	printf("{\"connections\":%lu,\"size\":%zu,\"depth\":%u,\"threads\":%u,\"rate\":%lu,"
	       "\"warmup_s\":%.3f,\"duration_s\":%.6f,\"messages\":%llu,"
	       "\"messages_per_sec\":%.1f,\"mb_per_sec\":%.3f,"
	       "\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,"
	       "\"max\":%.1f},\"verified\":%llu,\"errors\":%llu,\"error_detail\":",
	       o->connections, o->size, o->depth, o->threads, o->rate, o->warmup_s,
	       r->duration_s, (unsigned long long)r->messages, f->messages_per_sec,
	       f->mb_per_sec, f->p50, f->p90, f->p99, f->p999, f->max,
	       (unsigned long long)r->verified, (unsigned long long)r->errors);
	print_json_string(r->error_detail);
	/* Open loop: what the schedule asked and whether it was met; null and 0
	 * in closed loop, which has no schedule. */
	printf(",\"scheduled\":%llu,\"schedule_kept\":%s,\"behind_ms\":%.1f",
	       (unsigned long long)r->scheduled, !f->open_loop ? "null" : f->kept ? "true" : "false",
	       f->behind_ms);
	if (o->churn)
		printf(",\"mode\":\"churn\",\"connections_per_sec\":%.1f", f->messages_per_sec);
	if (o->udp)
		printf(",\"mode\":\"udp\",\"lost\":%llu,\"late\":%llu", (unsigned long long)r->lost,
		       (unsigned long long)r->late);
	printf("}\n");
}

static void print_shape(const struct load_opts *o)
{
	if (o->churn) {
		printf("load: %lu loops of connect, one %zu-byte message, close (churn)\n",
		       o->connections, o->size);
		return;
	}
	if (o->udp) {
		printf("load: %lu UDP socket%s, %zu-byte datagrams, one in flight each\n",
		       o->connections, o->connections == 1 ? "" : "s", o->size);
		return;
	}
	printf("load: %lu connection%s, %zu-byte messages, depth %u, %u thread%s, ",
	       o->connections, o->connections == 1 ? "" : "s", o->size, o->depth,
	       o->threads, o->threads == 1 ? "" : "s");
	if (o->rate)
		printf("open loop at %lu msg/s\n", o->rate);
	else
		printf("closed loop\n");
}

static void print_human(const struct load_opts *o, const struct load_result *r,
                        const struct figures *f)
{
	print_shape(o);
	printf("  measured     %.2f s after %.2f s of warm-up\n", r->duration_s, o->warmup_s);
	if (o->churn)
		printf("  connections  %llu (%.0f connections/s), each echo checked\n",
		       (unsigned long long)r->messages, f->messages_per_sec);
	else
		printf("  messages     %llu (%.0f msg/s)\n", (unsigned long long)r->messages,
		       f->messages_per_sec);
	if (o->udp)
		printf("  lost         %llu (no echo within the timeout; %llu came later)\n",
		       (unsigned long long)r->lost, (unsigned long long)r->late);
	printf("  throughput   %.2f MB/s\n", f->mb_per_sec);
	printf("  latency us   p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
	       f->p50, f->p90, f->p99, f->p999, f->max);
	if (f->open_loop && f->kept)
		printf("  schedule     kept: %llu echoes for %llu messages due in the window, "
		       "%.1f ms behind at its end\n",
		       (unsigned long long)r->messages, (unsigned long long)r->scheduled, f->behind_ms);
	else if (f->open_loop)
		printf("  schedule     NOT KEPT: %llu echoes for %llu messages due in the window (%.1f%%), "
		       "%.1f ms behind at its end: the rate above is what client and server managed "
		       "together, not %lu msg/s\n",
		       (unsigned long long)r->messages, (unsigned long long)r->scheduled,
		       r->scheduled ? 100.0 * (double)r->messages / (double)r->scheduled : 0.0,
		       f->behind_ms, o->rate);
	if (r->errors)
		printf("  errors       %llu: %s\n", (unsigned long long)r->errors, r->error_detail);
	else
		printf("  errors       0\n");
}

void report_print(const struct load_opts *o, const struct load_result *r)
{
	struct figures f = compute(o, r);
	if (o->json)
		print_json(o, r, &f);
	else
		print_human(o, r, &f);
	fflush(stdout);
}
