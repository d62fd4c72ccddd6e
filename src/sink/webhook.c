/*-------------------------------------------------------------------------
 *
 * webhook.c
 *	  HTTP POST on a libcurl multi handle whose sockets and timer are waited
 *	  on in the sink worker's WaitEventSet, beside its latch: one process
 *	  keeps many requests in flight without threads or sleep loops.
 *
 * libcurl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and
 * when to call it back without activity (CURLMOPT_TIMERFUNCTION); each
 * wait builds a WaitEventSet of the latch, postmaster death and those
 * sockets, and hands what fired to curl_multi_socket_action.  Connections
 * stay in the multi handle's cache between requests (keep-alive).
 * Redirects are not followed and only http and https are spoken, so a
 * sink reaches only the host its options name.
 *
 * Everything curl allocates is malloc'd: requests are freed explicitly
 * (es_webhook_free), never with a memory context.
 *
 * src/sink/webhook.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>
#include <zlib.h>

#include <curl/curl.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/memutils.h"

#include "webhook.h"

#define MAX_SOCKETS 256

typedef struct WatchedSocket
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN / OUT / INOUT */
} WatchedSocket;

static CURLM *multi = NULL;
static long timer_ms = -1;		/* curl's timeout, -1: none */
static WatchedSocket sockets[MAX_SOCKETS];
static int nsockets = 0;
static int in_flight = 0;

/* CURLMOPT_SOCKETFUNCTION: remember which sockets curl wants watched */
static int
socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	int			i;

	for (i = 0; i < nsockets; i++)
	{
		if (sockets[i].fd == fd)
			break;
	}
	if (what == CURL_POLL_REMOVE)
	{
		if (i < nsockets)
			sockets[i] = sockets[--nsockets];
		return 0;
	}
	if (i == nsockets)
	{
		if (nsockets == MAX_SOCKETS)
			return -1;			/* curl fails the transfer */
		nsockets++;
	}
	sockets[i].fd = fd;
	sockets[i].what = what;
	return 0;
}

/* CURLMOPT_TIMERFUNCTION */
static int
timer_cb(CURLM *m, long timeout, void *userp)
{
	timer_ms = timeout;
	return 0;
}

/* keep the start of the response body */
static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	EsWebhookRequest *req = userdata;
	size_t		n = size * nmemb;
	size_t		room = ES_WEBHOOK_SNIPPET - req->response_len;

	if (room > 0)
	{
		size_t		take = Min(room, n);

		memcpy(req->response + req->response_len, ptr, take);
		req->response_len += take;
		req->response[req->response_len] = '\0';
	}
	return n;
}

/* Retry-After: seconds, or an HTTP date (curl_getdate reads it) */
static size_t
header_cb(char *buffer, size_t size, size_t nitems, void *userdata)
{
	EsWebhookRequest *req = userdata;
	size_t		n = size * nitems;

	if (n > 12 && pg_strncasecmp(buffer, "retry-after:", 12) == 0)
	{
		char		value[32];
		size_t		len = Min(n - 12, sizeof(value) - 1);
		char	   *end;
		long		s;

		memcpy(value, buffer + 12, len);
		value[len] = '\0';
		s = strtol(value, &end, 10);
		if (end == value || (*end != '\0' && *end != '\r' && *end != '\n' && *end != ' '))
		{
			time_t		when = curl_getdate(value, NULL);

			/* (a date already past: at once) */
			s = when < 0 ? -1 : Max((long) (when - time(NULL)), 0);
		}
		if (s >= 0 && s <= 86400)
			req->retry_after_s = (int) s;
	}
	return n;
}

/* es_webhook_init sets libcurl up in the sink worker (after fork) */
void
es_webhook_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		elog(ERROR, "could not initialize libcurl");
	multi = curl_multi_init();
	if (multi == NULL)
		elog(ERROR, "could not create a libcurl multi handle");
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
}

/*
 * es_webhook_post starts a POST of body (copied) to url with the given
 * "Name: value" headers; it completes in es_webhook_wait
 */
EsWebhookRequest *
es_webhook_post(const char *url, List *headers, const char *body, Size body_len,
				int timeout_ms, void *owner)
{
	EsWebhookRequest *req = calloc(1, sizeof(EsWebhookRequest));
	CURL	   *easy;
	struct curl_slist *list = NULL;
	ListCell   *lc;

	if (req == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	req->body = malloc(body_len + 1);
	easy = curl_easy_init();
	if (req->body == NULL || easy == NULL)
	{
		free(req->body);
		free(req);
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	memcpy(req->body, body, body_len);
	req->body[body_len] = '\0';
	req->easy = easy;
	req->owner = owner;
	req->retry_after_s = -1;

	foreach(lc, headers)
		list = curl_slist_append(list, (const char *) lfirst(lc));
	list = curl_slist_append(list, "Expect:");	/* no 100-continue round trip */
	req->headers = list;

	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_len);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, req);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "pg_eventstream");

	if (curl_multi_add_handle(multi, easy) != CURLM_OK)
	{
		req->done = true;
		strlcpy(req->error, "could not start the request", sizeof(req->error));
	}
	else
		in_flight++;
	return req;
}

/* collect finished transfers */
static void
read_done(void)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL)
	{
		EsWebhookRequest *req;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &req->status);
		if (msg->data.result != CURLE_OK)
		{
			strlcpy(req->error, curl_easy_strerror(msg->data.result), sizeof(req->error));
			req->status = 0;
		}
		curl_multi_remove_handle(multi, msg->easy_handle);
		req->done = true;
		in_flight--;
	}
}

/*
 * es_webhook_wait waits, at most timeout_ms (-1: no limit), for the latch,
 * for curl's sockets or for curl's timer, and lets curl do its work; it
 * returns true if the latch was set or timeout_ms passed (rather than
 * only curl's work).  It waits on the caller's fds too (readable), and
 * sets *fd_ready if one of them is.
 */
bool
es_webhook_wait(long timeout_ms, uint32 wait_event_info,
				const int *fds, int nfds, bool *fd_ready)
{
	bool		woken = false;
	bool		ours_ran_out;
	WaitEventSet *set;
	WaitEvent	events[MAX_SOCKETS + 2 + 64];
	int			nevents;
	int			running;
	int			i;

	/* no transfer left: whatever timer curl asked for last is moot */
	if (in_flight == 0)
		timer_ms = -1;
	ours_ran_out = timer_ms < 0 || (timeout_ms >= 0 && timeout_ms <= timer_ms);
	if (timer_ms >= 0 && (timeout_ms < 0 || timer_ms < timeout_ms))
		timeout_ms = timer_ms;

	nfds = Min(nfds, 64);
	set = CreateWaitEventSet(CurrentMemoryContext, nsockets + 2 + nfds);
	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (i = 0; i < nsockets; i++)
	{
		uint32		ev = 0;

		if (sockets[i].what & CURL_POLL_IN)
			ev |= WL_SOCKET_READABLE;
		if (sockets[i].what & CURL_POLL_OUT)
			ev |= WL_SOCKET_WRITEABLE;
		AddWaitEventToSet(set, ev, sockets[i].fd, NULL, NULL);
	}
	/* others' fds: user_data marks them */
	for (i = 0; i < nfds; i++)
		AddWaitEventToSet(set, WL_SOCKET_READABLE, fds[i], NULL, (void *) fd_ready);
	nevents = WaitEventSetWait(set, timeout_ms, events, lengthof(events), wait_event_info);
	FreeWaitEventSet(set);

	for (i = 0; i < nevents; i++)
	{
		int			flags = 0;

		if (events[i].events & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			woken = true;
			continue;
		}
		if (events[i].user_data != NULL)
		{
			*fd_ready = true;
			continue;
		}
		if (events[i].events & WL_SOCKET_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events[i].events & WL_SOCKET_WRITEABLE)
			flags |= CURL_CSELECT_OUT;
		if (flags != 0)
			curl_multi_socket_action(multi, events[i].fd, flags, &running);
	}
	/* the timer, when it has run out (and on every wake: cheap) */
	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	read_done();
	return woken || (nevents == 0 && ours_ran_out);
}

/*
 * es_webhook_gzip compresses a body for "Content-Encoding: gzip" into out
 * (the gzip format: zlib's deflate with a gzip header)
 */
void
es_webhook_gzip(const char *data, Size len, StringInfo out)
{
	z_stream	zs;
	int			rc;

	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
					 Z_DEFAULT_STRATEGY) != Z_OK)
		elog(ERROR, "could not start gzip compression");
	resetStringInfo(out);
	enlargeStringInfo(out, (int) deflateBound(&zs, len));
	zs.next_in = (Bytef *) data;
	zs.avail_in = len;
	zs.next_out = (Bytef *) out->data;
	zs.avail_out = out->maxlen - 1;
	rc = deflate(&zs, Z_FINISH);
	out->len = (int) zs.total_out;
	deflateEnd(&zs);
	if (rc != Z_STREAM_END)
		elog(ERROR, "could not gzip a request body");
}

/* es_webhook_free releases a request, stopping it if still running */
void
es_webhook_free(EsWebhookRequest *req)
{
	if (req == NULL)
		return;
	if (!req->done)
	{
		curl_multi_remove_handle(multi, req->easy);
		in_flight--;
	}
	curl_easy_cleanup(req->easy);
	curl_slist_free_all(req->headers);
	free(req->body);
	free(req);
}
