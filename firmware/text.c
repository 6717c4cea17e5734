#include "text.h"

#include <stddef.h>
#include <stdint.h>

/* Length of the valid UTF-8 character at s, 0 if invalid, -1 if the
 * string ends inside it. Rejects what jansson rejects: overlong forms,
 * surrogates, and code points past U+10FFFF. */
static int char_len(const unsigned char *s)
{
	uint32_t cp;
	int n;

	if (*s < 0x80)
		return 1;
	if (*s >= 0xc2 && *s <= 0xdf) {
		n = 2;
		cp = *s & 0x1f;
	} else if (*s >= 0xe0 && *s <= 0xef) {
		n = 3;
		cp = *s & 0x0f;
	} else if (*s >= 0xf0 && *s <= 0xf4) {
		n = 4;
		cp = *s & 0x07;
	} else {
		return 0;
	}
	for (int i = 1; i < n; i++) {
		if (!s[i])
			return -1;
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

static bool control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

bool kt_text_valid(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		int n = char_len(s);

		if (n <= 0 || control(*s))
			return false;
		s += n;
	}
	return true;
}

void kt_text_clean(char *str)
{
	unsigned char *s = (unsigned char *)str;

	while (*s) {
		int n = char_len(s);

		if (n < 0) {
			*s = '\0';
			return;
		}
		if (n == 0 || control(*s)) {
			*s++ = '?';
			continue;
		}
		s += n;
	}
}
