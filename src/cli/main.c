/* main.c - the `ephport` command: global options and dispatch to one
 * subcommand per file (the table is command-list.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ep_config.h"

static const struct ep_command ep_commands[] = {
#define EP_COMMAND(name, summary) { #name, ep_cmd_##name, summary },
#include "command-list.h"
#undef EP_COMMAND
};

#define EP_NCOMMANDS (sizeof ep_commands / sizeof ep_commands[0])

static void ep_usage(FILE *f)
{
    fprintf(f,
            "Usage: ephport [--version] [--help] <command> [options]\n"
            "\n"
            "ephport owns everything about ephemeral ports: choosing them, tracking\n"
            "them through TIME_WAIT, and telling you when and why they run out.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < EP_NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", ep_commands[i].name, ep_commands[i].summary);
    fprintf(f,
            "\n"
            "Run 'ephport <command> --help' for a command's options.\n"
            "With no command, ephport runs '%s'.\n"
            "Exit codes: 0 success, 1 failure, 2 usage error (check: 0-3, see its help).\n",
            ep_commands[0].name);
}

static const struct ep_command *ep_find_command(const char *name)
{
    for (size_t i = 0; i < EP_NCOMMANDS; i++)
        if (strcmp(ep_commands[i].name, name) == 0)
            return &ep_commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    static char name[64];
    const struct ep_command *cmd;
    int c;

    /* getopt names the program from argv[0] in its messages ("unrecognized
     * option"): make that "ephport", not the path we were started by. */
    argv[0] = (char *)"ephport";

    /* Stop at the first non-option: the rest belongs to the subcommand. */
    while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            ep_usage(stdout);
            return EP_EXIT_OK;
        case 'V':
            printf("ephport %s\n", EP_VERSION);
            return EP_EXIT_OK;
        default:
            ep_usage(stderr);
            return EP_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        char *default_argv[] = { (char *)ep_commands[0].name, NULL };
        optind = 1;
        return ep_commands[0].run(1, default_argv);
    }
    cmd = ep_find_command(argv[optind]);
    if (!cmd) {
        fprintf(stderr, "ephport: unknown command '%s'\n\n", argv[optind]);
        ep_usage(stderr);
        return EP_EXIT_USAGE;
    }
    argc -= optind;
    argv += optind;
    /* ... and "ephport CMD" in the subcommand's messages, like ep_cli_error */
    snprintf(name, sizeof name, "ephport %s", cmd->name);
    argv[0] = name;
    optind = 1; /* reset getopt for the subcommand */
    return cmd->run(argc, argv);
}
