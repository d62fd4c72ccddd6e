/*-------------------------------------------------------------------------
 *
 * pg_eventstream.h
 *	  Declarations shared by all components of pg_eventstream.
 *
 * src/pg_eventstream.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_EVENTSTREAM_H
#define PG_EVENTSTREAM_H

/* the extension's version, as in pg_eventstream.control */
#define PG_EVENTSTREAM_VERSION "0.1.0"

#endif							/* PG_EVENTSTREAM_H */
