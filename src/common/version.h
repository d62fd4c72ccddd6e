/*-------------------------------------------------------------------------
 *
 * version.h
 *	  The versions of the extension's catalog this library works with.
 *
 * src/common/version.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_VERSION_H
#define ES_VERSION_H

extern char *es_catalog_version(void);
extern bool es_catalog_version_known(const char *version);
extern bool es_catalog_at_least(const char *version);
extern void es_require_known_catalog(void);
extern bool es_catalog_usable(const char *worker);

#endif							/* ES_VERSION_H */
