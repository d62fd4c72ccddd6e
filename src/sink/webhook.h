/*-------------------------------------------------------------------------
 *
 * webhook.h
 *	  HTTP POST requests on one libcurl multi handle, driven from the sink
 *	  worker's wait loop (webhook.c).
 *
 * src/sink/webhook.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_WEBHOOK_H
#define ES_WEBHOOK_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

#define ES_WEBHOOK_SNIPPET 512	/* bytes of a response body kept */

typedef struct EsWebhookRequest
{
	void	   *easy;			/* CURL * */
	void	   *headers;		/* struct curl_slist * */
	char	   *body;			/* malloc'd: libcurl reads it until done */
	void	   *owner;			/* the caller's */
	bool		done;
	long		status;			/* HTTP status, 0 if none */
	char		error[256];		/* transport error, "" if none */
	int			retry_after_s;	/* Retry-After seconds, -1 if none */
	char		response[ES_WEBHOOK_SNIPPET + 1];
	int			response_len;
} EsWebhookRequest;

extern void es_webhook_init(void);
extern EsWebhookRequest *es_webhook_post(const char *url, List *headers,
										 const char *body, Size body_len,
										 int timeout_ms, void *owner);
extern bool es_webhook_wait(long timeout_ms, uint32 wait_event_info,
							const int *fds, int nfds, bool *fd_ready);
extern void es_webhook_free(EsWebhookRequest *req);
extern void es_webhook_gzip(const char *data, Size len, StringInfo out);

#endif							/* ES_WEBHOOK_H */
