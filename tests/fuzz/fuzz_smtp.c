/*
 * libFuzzer target for the SMTP dissector: the input is a session, cut in
 * messages: each message is a header byte (bit 0: direction, bits 1-7:
 * length of the next piece) followed by the piece; the pieces go through
 * real streams to the dissector, as the engine gives them.
 */
#include <stdlib.h>
#include <string.h>

#include <haka/flow.h>
#include <haka/stream.h>

#include "proto/smtp/smtp.h"

static void
h_command(void *arg, struct flow *f, const struct gresult *res)
{
	(void)arg;
	(void)f;
	/* Touch the results: the fuzzer checks they are readable. */
	if (gresult_get(res, "command") == NULL)
		abort();
}

static void
h_response(void *arg, struct flow *f, const struct gresult *res)
{
	const struct gresult *r = gresult_get(res, "responses"), *e;

	(void)arg;
	(void)f;
	for (e = r != NULL ? r->first : NULL; e != NULL; e = e->next)
		if (gresult_get(e, "code") == NULL)
			abort();
}

static bool
h_want(void *arg)
{
	(void)arg;
	return true;
}

/* Read by nobody: makes the content's bytes be read. */
volatile uint8_t fz_content_sink;

static void
h_content(void *arg, struct flow *f, const uint8_t *p, size_t len, bool last)
{
	(void)arg;
	(void)f;
	(void)last;
	if (len > 0)
		fz_content_sink ^= p[0] ^ p[len - 1];
}

static void
h_anomaly(void *arg, struct flow *f, enum anomaly a)
{
	(void)arg;
	(void)f;
	(void)a;
}

static void
h_starttls(void *arg, struct flow *f)
{
	(void)arg;
	(void)f;
}

static void
h_drop(void *arg, struct flow *f)
{
	(void)arg;
	f->flags |= FLOW_F_DROPPED;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	struct smtp_hooks h = {h_command, h_response, h_want, h_content,
	                       h_anomaly, h_starttls, h_drop, NULL};
	struct flow f;
	struct hk_time now = {0, 0};
	void *inst;
	size_t i = 0;
	uint64_t keep;
	char err[128];

	if (!init) {
		if (smtp_init(err, sizeof(err)) != HK_OK)
			abort();
		init = true;
	}
	memset(&f, 0, sizeof(f));
	stream_init(&f.dir[0], 1);
	stream_init(&f.dir[1], 1);
	inst = smtp_new(&f, &h, &now);
	if (inst == NULL)
		return 0;
	while (i < size && !(f.flags & FLOW_F_DROPPED)) {
		int d = data[i] & 1;
		size_t len = (size_t)(data[i] >> 1) + 1;
		struct packet *pkt;
		struct stream_insert_res res;
		struct stream *st = &f.dir[d];

		i++;
		if (len > size - i)
			len = size - i;
		if (len == 0)
			break;
		pkt = packet_new((uint32_t)len);
		memcpy(pkt->data, data + i, len);
		pkt->pl_len = (uint32_t)len;
		i += len;
		stream_insert(st, pkt, stream_off_seq(st, st->next), &res);
		packet_unref(pkt);
		smtp_dissector.receive(inst, &f, d, st->next, i >= size, &keep);
		if (keep > st->next)
			abort();
		stream_consume(st, keep);
	}
	smtp_dissector.end(inst, &f);
	smtp_dissector.free(inst);
	stream_release_all(&f.dir[0], false);
	stream_release_all(&f.dir[1], false);
	return 0;
}
