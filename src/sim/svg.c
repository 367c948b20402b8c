/* svg.c - the simulation chart, written as plain SVG 1.1 text.
 *
 * No library: the chart is a few polylines and labels, and writing them by
 * hand keeps the output byte-stable for a seed (every number goes through
 * one "%.2f").  All text is escaped, so a trace file name or a destination
 * cannot break the XML.  The y axis goes up to 110 % of the larger of the
 * capacity and the highest sample, so the capacity line is always visible.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "svg.h"

#define W 960.0
#define H 540.0
#define ML 80.0   /* margins */
#define MR 230.0
#define MT 50.0
#define MB 60.0

static const char *const ep_svg_colors[EP_SVG_MAX_DESTS] = {
    "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
};

void ep_svg_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&apos;", f);
            break;
        default:
            if (c >= 0x20 && c != 0x7f)
                fputc(c, f);
            break;
        }
    }
}

/* A round step for about n ticks over [0, max]. */
static double ep_svg_step(double max, int n)
{
    double raw = max / n, mag = 1;
    while (mag * 10 <= raw)
        mag *= 10;
    while (mag > raw && mag > 1e-9)
        mag /= 10;
    if (raw <= mag)
        return mag;
    if (raw <= 2 * mag)
        return 2 * mag;
    if (raw <= 5 * mag)
        return 5 * mag;
    return 10 * mag;
}

int ep_svg_write(const ep_sim_result *res, const char *title, FILE *f)
{
    const ep_series *s = &res->series;
    size_t order[EP_SVG_MAX_DESTS], nd = 0;
    double tmax = res->length > 0 ? res->length : 1, ymax = 1, step;
    double pw = W - ML - MR, ph = H - MT - MB;

    /* The busiest destinations: highest sampled peak, then index. */
    for (size_t d = 0; d < res->ndest; d++) {
        size_t i;
        if (nd < EP_SVG_MAX_DESTS)
            nd++;
        else if (res->dest[d].sampled_peak <= res->dest[order[nd - 1]].sampled_peak)
            continue;
        for (i = nd - 1; i > 0 && res->dest[order[i - 1]].sampled_peak < res->dest[d].sampled_peak; i--)
            order[i] = order[i - 1];
        order[i] = d;
    }
    for (size_t k = 0; k < nd; k++) {
        const ep_sim_dest *d = &res->dest[order[k]];
        if (d->capacity > ymax)
            ymax = d->capacity;
        if (d->sampled_peak > ymax)
            ymax = d->sampled_peak;
    }
    ymax *= 1.1;
#define X(t) (ML + (t) / tmax * pw)
#define Y(v) (MT + ph - (v) / ymax * ph)

    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
               "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n", W, H, W, H);
    fputs("<title>", f);
    ep_svg_escape(f, title);
    fputs("</title>\n", f);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", W, H);
    fprintf(f, "<text x=\"%.2f\" y=\"28\" font-size=\"16\" font-weight=\"bold\">", ML);
    ep_svg_escape(f, title);
    fputs("</text>\n", f);

    /* Axes and grid. */
    step = ep_svg_step(ymax, 6);
    for (double v = 0; v <= ymax; v += step) {
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e0e0e0\"/>\n",
                ML, Y(v), ML + pw, Y(v));
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%.0f</text>\n", ML - 6,
                Y(v) + 4, v);
    }
    step = ep_svg_step(tmax, 8);
    for (double t = 0; t <= tmax + 1e-9; t += step)
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%g</text>\n", X(t),
                MT + ph + 18, t);
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
               "stroke=\"#000000\"/>\n", ML, MT, pw, ph);
    fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">virtual time (s)</text>\n",
            ML + pw / 2, H - 16);
    fprintf(f, "<text x=\"18\" y=\"%.2f\" text-anchor=\"middle\" transform=\"rotate(-90 18 %.2f)\">"
               "ports</text>\n", MT + ph / 2, MT + ph / 2);

    /* Capacity lines (one per distinct value). */
    for (size_t k = 0; k < nd; k++) {
        uint32_t cap = res->dest[order[k]].capacity;
        bool seen = false;
        for (size_t j = 0; j < k; j++)
            seen |= res->dest[order[j]].capacity == cap;
        if (seen)
            continue;
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#d62728\" "
                   "stroke-width=\"1.5\" stroke-dasharray=\"8,4\"/>\n", ML, Y(cap), ML + pw, Y(cap));
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" fill=\"#d62728\">effective range %u</text>\n",
                ML + 6, Y(cap) - 5, cap);
    }

    /* Series. */
    for (size_t k = 0; k < nd; k++) {
        size_t d = order[k];
        for (int kind = 0; kind < 2; kind++) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s points=\"",
                    ep_svg_colors[k], kind ? " stroke-dasharray=\"4,3\"" : "");
            for (size_t i = 0; i < s->n; i++) {
                const ep_series_cell *c = &ep_series_row(s, i)[d];
                fprintf(f, "%s%.2f,%.2f", i ? " " : "", X(s->t[i]),
                        Y(kind ? c->time_wait : c->in_use));
            }
            fputs("\"/>\n", f);
        }
    }

    /* Failures: a tick on the top edge of every interval that had one. */
    for (size_t i = 0; i < s->n; i++) {
        uint64_t fails = 0;
        const ep_series_cell *row = ep_series_row(s, i);
        for (size_t d = 0; d < s->ndest; d++)
            fails += row[d].failures;
        if (fails)
            fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#d62728\" "
                       "stroke-width=\"2\"><title>%llu failures</title></line>\n",
                    X(s->t[i]), MT, X(s->t[i]), MT + 10, (unsigned long long)fails);
    }
    if (res->first_failure >= 0) {
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#d62728\" "
                   "stroke-dasharray=\"2,2\"/>\n", X(res->first_failure), MT, X(res->first_failure),
                MT + ph);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" fill=\"#d62728\">first failure %.3f s</text>\n",
                X(res->first_failure) + 4, MT + 24, res->first_failure);
    }

    /* Legend. */
    {
        double lx = ML + pw + 16, ly = MT + 10;
        for (size_t k = 0; k < nd; k++, ly += 38) {
            fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
                       "stroke-width=\"2\"/>\n", lx, ly, lx + 24, ly, ep_svg_colors[k]);
            fprintf(f, "<text x=\"%.2f\" y=\"%.2f\">", lx + 30, ly + 4);
            ep_svg_escape(f, res->dest[order[k]].name);
            fputs(" in use</text>\n", f);
            fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
                       "stroke-width=\"2\" stroke-dasharray=\"4,3\"/>\n", lx, ly + 16, lx + 24,
                    ly + 16, ep_svg_colors[k]);
            fprintf(f, "<text x=\"%.2f\" y=\"%.2f\">TIME_WAIT</text>\n", lx + 30, ly + 20);
        }
        if (res->ndest > nd)
            fprintf(f, "<text x=\"%.2f\" y=\"%.2f\">(%zu more destinations not drawn)</text>\n",
                    lx, ly + 4, res->ndest - nd);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" fill=\"#d62728\">| failures</text>\n", lx,
                ly + 24);
    }
    fputs("</svg>\n", f);
#undef X
#undef Y
    return ferror(f) ? -EIO : 0;
}
