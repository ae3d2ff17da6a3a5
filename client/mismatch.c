/* mismatch: see mismatch.h. */
#include "mismatch.h"

#include <stdio.h>
#include <string.h>

void mismatch_text(char *why, size_t size, const char *got, size_t len, const char *want,
                   size_t offset, uint64_t seq)
{
	if (offset == 0 && len >= 4 && memcmp(got, "ERR ", 4) == 0) {
		size_t shown = 0;
		char line[100];
		while (shown < len && shown < sizeof line - 1 && got[shown] != '\n') {
			unsigned char ch = (unsigned char)got[shown];
			line[shown++] = (char)(ch >= 0x20 && ch < 0x7f ? ch : '?');
		}
		line[shown] = '\0';
		snprintf(why, size, "server sent \"%s\"", line);
		return;
	}
	size_t at = 0;
	while (at < len && got[at] == want[at])
		at++;
	snprintf(why, size, "echo of message %llu differs from what was sent at byte %zu",
	         (unsigned long long)seq, offset + at);
}
