#include "sys.h"

#include <errno.h>
#include <string.h>

#include "generated/autoconf.h"

/* Explicit list rather than constructors: static linking drops objects that
 * nothing references. */
static const struct sys_ops *const backends[] = {
	&sys_linux_ops,
#ifdef CONFIG_SYS_DUMMY
	&sys_dummy_ops,
#endif
};

int sys_init(struct sys *s, const char *backend)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (!strcmp(backends[i]->name, backend)) {
			s->ops = backends[i];
			s->priv = NULL;
			return s->ops->init(s);
		}
	}
	return -ENOENT;
}

void sys_uninit(struct sys *s)
{
	if (s->ops)
		s->ops->uninit(s);
	s->ops = NULL;
}
