using NodaTime;
using NodaTime.Text;
using NodaTime.TimeZones;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Scheduling.Queues;

/// <summary>One weekly posting slot: a day of the week and a wall-clock time in the queue's zone.</summary>
public sealed record WeeklySlot(IsoDayOfWeek Day, LocalTime Time)
{
    public string DayName => QueueSlots.DayNames[(int)Day - 1];

    public string TimeText => QueueSlots.TimePattern.Format(Time);
}

/// <summary>
/// The slot arithmetic of posting queues (docs/api.md#posting-queues), pure so it can be tested without a database:
/// which instants a weekly schedule in an IANA zone names, daylight saving time included.
/// </summary>
public static class QueueSlots
{
    public const int MaxSlots = 100;

    /// <summary>How far ahead a queued post may land, and how far <c>queue/next</c> looks.</summary>
    public static readonly Duration Horizon = Duration.FromDays(90);

    public static readonly string[] DayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

    public static readonly LocalTimePattern TimePattern = LocalTimePattern.CreateWithInvariantCulture("HH':'mm");

    // A wall-clock time skipped by spring-forward becomes the first instant after the gap; one repeated by the autumn
    // change is taken once, at its first (earlier) occurrence.
    private static readonly ZoneLocalMappingResolver Resolver =
        Resolvers.CreateMappingResolver(Resolvers.ReturnEarlier, Resolvers.ReturnStartOfIntervalAfter);

    /// <summary>The zone of an IANA id, from the time zone database NodaTime ships (the same on every OS).</summary>
    public static DateTimeZone? Zone(string? timezone)
        => string.IsNullOrWhiteSpace(timezone) ? null : DateTimeZoneProviders.Tzdb.GetZoneOrNull(timezone);

    /// <summary>Checks a requested schedule; every problem is a 422 naming its field (<c>slots[2].time</c>).</summary>
    public static (DateTimeZone Zone, List<WeeklySlot> Slots) Validate(string? timezone, IReadOnlyList<(string? Day, string? Time)?>? slots)
    {
        var zone = Zone(timezone)
            ?? throw ApiException.Validation("timezone", "timezone is required: an IANA time zone such as Europe/Paris.");
        if (slots is null)
        {
            throw ApiException.Validation("slots", "slots is required: a list of {day, time} (an empty list empties the queue).");
        }

        if (slots.Count > MaxSlots)
        {
            throw ApiException.Validation("slots", $"A queue has at most {MaxSlots} slots a week; this one has {slots.Count}.");
        }

        var valid = new List<WeeklySlot>(slots.Count);
        for (int i = 0; i < slots.Count; i++)
        {
            var slot = slots[i] ?? throw ApiException.Validation($"slots[{i}]", $"slots[{i}] must be an object {{day, time}}.");
            int day = Array.IndexOf(DayNames, slot.Day);
            if (day < 0)
            {
                throw ApiException.Validation($"slots[{i}].day", $"slots[{i}].day must be one of {string.Join(", ", DayNames)}.");
            }

            var time = slot.Time is null ? null : TimePattern.Parse(slot.Time);
            if (time is not { Success: true } || slot.Time!.Length != 5)
            {
                throw ApiException.Validation($"slots[{i}].time", $"slots[{i}].time must be a 24-hour time HH:mm, e.g. 09:00.");
            }

            var weekly = new WeeklySlot((IsoDayOfWeek)(day + 1), time.Value);
            if (valid.Contains(weekly))
            {
                throw ApiException.Validation($"slots[{i}]", $"slots[{i}] repeats {slot.Day} {slot.Time}.");
            }

            valid.Add(weekly);
        }

        valid.Sort((a, b) => a.Day != b.Day ? a.Day.CompareTo(b.Day) : a.Time.CompareTo(b.Time));
        return (zone, valid);
    }

    /// <summary>
    /// The instants the weekly <paramref name="slots"/> name in <paramref name="zone"/> after <paramref name="after"/>
    /// and no later than <paramref name="until"/>, ascending and distinct (two slots in one spring-forward gap land on
    /// the same instant, which is one slot).
    /// </summary>
    public static IReadOnlyList<Instant> Between(DateTimeZone zone, IReadOnlyCollection<WeeklySlot> slots, Instant after, Instant until)
    {
        var instants = new SortedSet<Instant>();
        if (slots.Count == 0)
        {
            return [];
        }

        // One day of margin each side: a zone's offset moves its local dates against UTC.
        var last = until.InZone(zone).Date.PlusDays(1);
        for (var date = after.InZone(zone).Date.PlusDays(-1); date <= last; date = date.PlusDays(1))
        {
            foreach (var slot in slots)
            {
                if (slot.Day != date.DayOfWeek)
                {
                    continue;
                }

                var instant = zone.ResolveLocal(date + slot.Time, Resolver).ToInstant();
                if (instant > after && instant <= until)
                {
                    instants.Add(instant);
                }
            }
        }

        return [.. instants];
    }

    /// <summary>
    /// The earliest instant after <paramref name="after"/> (within the horizon) that is a slot of every queue and not
    /// in <paramref name="taken"/>; null if there is none.
    /// </summary>
    public static Instant? EarliestCommonFree(IReadOnlyList<(DateTimeZone Zone, IReadOnlyCollection<WeeklySlot> Slots)> queues,
        IReadOnlySet<Instant> taken, Instant after)
    {
        if (queues.Count == 0)
        {
            return null;
        }

        var until = after + Horizon;
        IEnumerable<Instant> common = Between(queues[0].Zone, queues[0].Slots, after, until);
        foreach (var (zone, slots) in queues.Skip(1))
        {
            common = common.Intersect(Between(zone, slots, after, until));
        }

        foreach (var instant in common)
        {
            if (!taken.Contains(instant))
            {
                return instant;
            }
        }

        return null;
    }
}
