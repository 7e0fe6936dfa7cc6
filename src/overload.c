/* Overload control: hysteresis over measured load (see overload.h). */
#include "config.h"

#include "overload.h"

static enum overload_cause over(const struct overload_limits *l, unsigned queue_pct, unsigned in_flight)
{
	if (queue_pct >= l->queue_high)
		return OVERLOAD_QUEUE;
	if (l->max_in_flight && in_flight >= l->max_in_flight)
		return OVERLOAD_IN_FLIGHT;
	return OVERLOAD_NONE;
}

/* Has the load dropped far enough below both limits to admit again? */
static bool recovered(const struct overload_limits *l, unsigned queue_pct, unsigned in_flight)
{
	unsigned long in_flight_low = (unsigned long)l->max_in_flight * OVERLOAD_IN_FLIGHT_LOW / 100;

	return queue_pct < l->queue_low && (!l->max_in_flight || in_flight < in_flight_low);
}

enum overload_change overload_update(struct overload *o, const struct overload_limits *l,
    unsigned queue_pct, unsigned in_flight)
{
	if (o->cause == OVERLOAD_NONE) {
		enum overload_cause c = over(l, queue_pct, in_flight);
		if (c == OVERLOAD_NONE)
			return OVERLOAD_SAME;
		o->cause = c;
		o->refused = 0;
		o->peak_queue = queue_pct;
		o->episodes++;
		return OVERLOAD_STARTED;
	}
	if (queue_pct > o->peak_queue)
		o->peak_queue = queue_pct;
	if (!recovered(l, queue_pct, in_flight))
		return OVERLOAD_SAME;
	o->cause = OVERLOAD_NONE;
	return OVERLOAD_ENDED;
}

bool overload_admit(struct overload *o)
{
	if (o->cause == OVERLOAD_NONE)
		return true;
	o->refused++;
	o->refused_total++;
	return false;
}
