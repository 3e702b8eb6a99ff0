package billing

import (
	"fmt"
	"strconv"
	"time"
)

// Period is the kind of a budget window.
type Period uint8

const (
	// Month is the calendar month in UTC. It is the zero Period, so the
	// zero Window is a calendar month.
	Month Period = iota
	// Day is the calendar day in UTC.
	Day
	// Rolling is the last Window.Days calendar days in UTC, today
	// included. Spend leaves a rolling window a whole day at a time, at
	// midnight UTC; the ledger keeps it as one bucket per day.
	Rolling
)

// MaxRollingDays bounds Window.Days.
const MaxRollingDays = 366

// Window is the period a budget applies to. The zero Window is the
// calendar month in UTC.
type Window struct {
	// Period is the kind of window. Default: Month.
	Period Period
	// Days is the length of a Rolling window, 1 to MaxRollingDays; it must
	// be 0 for the other periods.
	Days int
}

// Windows for the common cases.
var (
	Monthly = Window{Period: Month}
	Daily   = Window{Period: Day}
)

// LastDays returns the rolling window of the last n days, today included.
func LastDays(n int) Window { return Window{Period: Rolling, Days: n} }

// String returns "month", "day" or "<n>d" for a rolling window ("7d"): the
// names used in keys, logs and the policy input.
func (w Window) String() string {
	switch w.Period {
	case Month:
		return "month"
	case Day:
		return "day"
	case Rolling:
		return strconv.Itoa(w.Days) + "d"
	}
	return fmt.Sprintf("period(%d)", w.Period)
}

func (w Window) validate() error {
	switch {
	case w.Period == Rolling && (w.Days < 1 || w.Days > MaxRollingDays):
		return fmt.Errorf("%w: rolling window of %d days (1 to %d)", ErrInvalid, w.Days, MaxRollingDays)
	case w.Period > Rolling:
		return fmt.Errorf("%w: unknown window period %d", ErrInvalid, w.Period)
	case w.Period != Rolling && w.Days != 0:
		return fmt.Errorf("%w: %v window with Days %d", ErrInvalid, w, w.Days)
	}
	return nil
}

// dayOf returns the unix day of t: whole days since 1970-01-01 UTC.
func dayOf(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return d
}

// dayStart returns the start of a unix day.
func dayStart(day int64) time.Time { return time.Unix(day*86400, 0).UTC() }

// monthOf returns the month index (year×12 + month-1) of a unix day, by
// the civil-from-days algorithm (H. Hinnant) the Redis script uses too.
func monthOf(day int64) int64 {
	z := day + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	m := mp + 3
	if mp >= 10 {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y*12 + m - 1
}

// span returns the buckets a window reads on a day, first to last; the
// bucket written is always last.
func (w Window) span(day int64) (first, last int64) {
	switch w.Period {
	case Day:
		return day, day
	case Rolling:
		return day - int64(w.Days) + 1, day
	}
	mi := monthOf(day)
	return mi, mi
}

// bounds returns the window's bounds on a day, end exclusive.
func (w Window) bounds(day int64) (start, end time.Time) {
	switch w.Period {
	case Day:
		return dayStart(day), dayStart(day + 1)
	case Rolling:
		return dayStart(day - int64(w.Days) + 1), dayStart(day + 1)
	}
	mi := monthOf(day)
	start = time.Date(int(mi/12), time.Month(mi%12+1), 1, 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 1, 0)
}

// ttl is how long the Redis ledger keeps a bucket after its last write:
// past the end of every window that reads it, plus a day's grace for a
// reservation settled after midnight.
func (w Window) ttl() time.Duration {
	switch w.Period {
	case Day:
		return 3 * 24 * time.Hour
	case Rolling:
		return time.Duration(w.Days+2) * 24 * time.Hour
	}
	return 33 * 24 * time.Hour
}
