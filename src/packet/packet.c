/*
 * Packet allocation, pooling and release. The capture allocates packets,
 * the engine and the modules that keep a packet's bytes (stream chunks,
 * fragment lists) hold references; the last packet_unref releases the
 * packet: the release hook gives its verdict to the capture, the
 * fragments of a reassembled datagram inherit its verdict, and the memory
 * goes back to the pool.
 */
#include <stdlib.h>
#include <string.h>

#include <haka/packet.h>

/*
 * Small frames (up to a full Ethernet frame plus tags) come from a free
 * list, so the per-packet path allocates nothing in the steady state.
 */
#define PACKET_SMALL    2048
#define PACKET_POOL_MAX 4096

/* Per worker thread: packets never cross threads (share nothing). */
static _Thread_local struct packet *pool_head;
static _Thread_local uint32_t pool_len;
static _Thread_local struct packet_stats stats;
static _Thread_local packet_release_fn release_fn;
static _Thread_local void *release_arg;

void
packet_set_release_hook(packet_release_fn fn, void *arg)
{
	release_fn = fn;
	release_arg = arg;
}

struct packet *
packet_new(uint32_t len)
{
	struct packet *pkt;
	uint32_t cap = len <= PACKET_SMALL ? PACKET_SMALL : len;

	if (cap == PACKET_SMALL && pool_head != NULL) {
		pkt = pool_head;
		pool_head = pkt->next;
		pool_len--;
	} else {
		pkt = malloc(sizeof(*pkt) + cap);
		if (pkt == NULL)
			return NULL;
	}
	memset(pkt, 0, sizeof(*pkt));
	pkt->data = (uint8_t *)(pkt + 1);
	pkt->data_cap = cap;
	pkt->caplen = len;
	pkt->refcnt = 1;
	stats.allocated++;
	stats.live++;
	stats.live_bytes += cap;
	if (stats.live > stats.peak_live)
		stats.peak_live = stats.live;
	return pkt;
}

void
packet_borrow(struct packet *pkt, const uint8_t *bytes)
{
	/* Never written through: forged packets have bytes of their own. */
	pkt->data = (uint8_t *)(uintptr_t)bytes;
	pkt->flags |= PKT_F_BORROWED;
}

void
packet_own(struct packet *pkt)
{
	uint8_t *own = (uint8_t *)(pkt + 1);
	const uint8_t *from = pkt->data;

	if (!(pkt->flags & PKT_F_BORROWED))
		return;
	memcpy(own, from, pkt->caplen);
	pkt->data = own;
	pkt->flags &= (uint16_t)~PKT_F_BORROWED;
	stats.owned++;
	if (pkt->holder != NULL)
		pkt->holder->moved(pkt->holder, from, pkt->caplen, own);
}

static void
packet_free(struct packet *pkt)
{
	stats.freed++;
	stats.live--;
	stats.live_bytes -= pkt->data_cap;
	if (pkt->data_cap == PACKET_SMALL && pool_len < PACKET_POOL_MAX) {
		pkt->next = pool_head;
		pool_head = pkt;
		pool_len++;
		return;
	}
	free(pkt);
}

void
packet_unref(struct packet *pkt)
{
	struct packet *f, *next;

	if (pkt == NULL)
		return;
	if (--pkt->refcnt > 0)
		return;
	/* A rebuilt datagram hands its verdict down to its fragments. */
	for (f = pkt->frags; f != NULL; f = next) {
		next = f->next;
		f->next = NULL;
		if (pkt->verdict == PKT_DROP)
			f->verdict = PKT_DROP;
		packet_unref(f);
	}
	pkt->frags = NULL;
	if (release_fn != NULL && !(pkt->flags & PKT_F_NO_OUTPUT))
		release_fn(pkt, release_arg);
	packet_free(pkt);
}

const struct packet_stats *
packet_stats(void)
{
	return &stats;
}

void
packet_pool_flush(void)
{
	struct packet *pkt;

	while ((pkt = pool_head) != NULL) {
		pool_head = pkt->next;
		free(pkt);
	}
	pool_len = 0;
}
