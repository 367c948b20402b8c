/* check-snat.h - `ephport check --snat` (check-snat.c), called by check.c. */
#ifndef EP_CLI_CHECK_SNAT_H
#define EP_CLI_CHECK_SNAT_H

/* Print the plugin line of the SNAT unit under most pressure in netns
 * (NULL: here); warn/crit in hundredths of a per cent, min_free < 0: none.
 * Returns the plugin exit code 0-3. */
int ep_check_snat(const char *netns, long warn, long crit, long min_free);

#endif
