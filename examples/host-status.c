/* host-status.c - libephport-host (pkg-config ephport-host): read this
 * host's ephemeral ports as `ephport status` does, and print the range and
 * the destination under most pressure.  Unknown numbers are printed as
 * such, with the snapshot's notes saying why. */
#include <stdio.h>

#include <ephport/host.h>

int main(void)
{
    ep_host_options opts;
    ep_host_snapshot *snap;
    const ep_host_settings *set;
    const ep_host_dest *d;
    const char *const *notes;
    size_t n, nn;
    int rc;

    ep_host_options_init(&opts);
    opts.top = 1;
    rc = ep_host_snapshot_take(&opts, &snap);
    if (rc != 0) {
        fprintf(stderr, "host-status: %s\n", ep_host_strerror(rc));
        return 1;
    }
    set = ep_host_snapshot_settings(snap);
    if (set->port_lo == EP_HOST_UNKNOWN)
        printf("range unknown\n");
    else
        printf("range %lld-%lld, %lld usable\n", (long long)set->port_lo,
               (long long)set->port_hi, (long long)set->effective_ports);
    d = ep_host_snapshot_dests(snap, &n, NULL);
    printf("%zu destination(s) shown\n", n);
    notes = ep_host_snapshot_notes(snap, &nn);
    for (size_t i = 0; i < nn; i++)
        printf("note: %s\n", notes[i]);
    (void)d;
    ep_host_snapshot_free(snap);
    return 0;
}
