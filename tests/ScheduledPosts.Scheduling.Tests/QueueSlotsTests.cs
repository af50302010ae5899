using NodaTime;
using ScheduledPosts.Scheduling.Queues;
using ScheduledPosts.ServiceDefaults.Errors;
using Xunit;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>The slot arithmetic of posting queues, with the clock ("now") given: DST in two zones over both transitions.</summary>
public sealed class QueueSlotsTests
{
    private static readonly DateTimeZone Paris = QueueSlots.Zone("Europe/Paris")!;
    private static readonly DateTimeZone NewYork = QueueSlots.Zone("America/New_York")!;

    private static Instant At(string utc) => NodaTime.Text.InstantPattern.General.Parse(utc).Value;

    private static WeeklySlot Slot(IsoDayOfWeek day, int hour, int minute = 0) => new(day, new LocalTime(hour, minute));

    private static IReadOnlyList<Instant> Slots(DateTimeZone zone, string fromUtc, string untilUtc, params WeeklySlot[] slots)
        => QueueSlots.Between(zone, slots, At(fromUtc), At(untilUtc));

    [Theory]
    [InlineData("Europe/Paris", "2026-01-05T00:00:00Z", "2026-01-05T08:00:00Z")]     // CET, UTC+1
    [InlineData("Europe/Paris", "2026-07-06T00:00:00Z", "2026-07-06T07:00:00Z")]     // CEST, UTC+2
    [InlineData("America/New_York", "2026-01-05T00:00:00Z", "2026-01-05T14:00:00Z")] // EST, UTC-5
    [InlineData("America/New_York", "2026-07-06T00:00:00Z", "2026-07-06T13:00:00Z")] // EDT, UTC-4
    public void A_nine_oclock_slot_is_nine_oclock_local_in_winter_and_in_summer(string zone, string now, string expected)
        => Assert.Equal(At(expected), Slots(QueueSlots.Zone(zone)!, now, "2026-12-31T00:00:00Z", Slot(IsoDayOfWeek.Monday, 9))[0]);

    [Fact]
    public void Paris_slots_follow_the_clock_across_spring_forward()
    {
        // Sunday 29 March 2026: 02:00 CET becomes 03:00 CEST.
        var instants = Slots(Paris, "2026-03-27T00:00:00Z", "2026-04-01T00:00:00Z", Slot(IsoDayOfWeek.Saturday, 9), Slot(IsoDayOfWeek.Sunday, 9));
        Assert.Equal([At("2026-03-28T08:00:00Z"), At("2026-03-29T07:00:00Z")], instants);
    }

    [Fact]
    public void Paris_slots_follow_the_clock_across_fall_back()
    {
        // Sunday 25 October 2026: 03:00 CEST becomes 02:00 CET.
        var instants = Slots(Paris, "2026-10-23T00:00:00Z", "2026-10-27T00:00:00Z", Slot(IsoDayOfWeek.Saturday, 9), Slot(IsoDayOfWeek.Sunday, 9));
        Assert.Equal([At("2026-10-24T07:00:00Z"), At("2026-10-25T08:00:00Z")], instants);
    }

    [Fact]
    public void New_York_slots_follow_the_clock_across_both_transitions()
    {
        // 8 March 2026: 02:00 EST becomes 03:00 EDT. 1 November 2026: 02:00 EDT becomes 01:00 EST.
        Assert.Equal([At("2026-03-07T14:00:00Z"), At("2026-03-08T13:00:00Z")],
            Slots(NewYork, "2026-03-06T00:00:00Z", "2026-03-09T00:00:00Z", Slot(IsoDayOfWeek.Saturday, 9), Slot(IsoDayOfWeek.Sunday, 9)));
        Assert.Equal([At("2026-10-31T13:00:00Z"), At("2026-11-01T14:00:00Z")],
            Slots(NewYork, "2026-10-30T00:00:00Z", "2026-11-02T00:00:00Z", Slot(IsoDayOfWeek.Saturday, 9), Slot(IsoDayOfWeek.Sunday, 9)));
    }

    [Theory]
    [InlineData("Europe/Paris", "2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z")]     // 02:30 does not exist: 03:00 CEST
    [InlineData("America/New_York", "2026-03-08T00:00:00Z", "2026-03-08T07:00:00Z")] // 02:30 does not exist: 03:00 EDT
    public void A_slot_in_the_spring_forward_gap_moves_to_the_first_instant_after_it(string zone, string now, string expected)
        => Assert.Equal(At(expected), Slots(QueueSlots.Zone(zone)!, now, "2026-12-31T00:00:00Z", Slot(IsoDayOfWeek.Sunday, 2, 30))[0]);

    [Fact]
    public void Slots_in_the_gap_and_at_its_end_are_one_slot()
    {
        var instants = Slots(Paris, "2026-03-29T00:00:00Z", "2026-03-29T12:00:00Z",
            Slot(IsoDayOfWeek.Sunday, 2), Slot(IsoDayOfWeek.Sunday, 2, 30), Slot(IsoDayOfWeek.Sunday, 3));
        Assert.Equal([At("2026-03-29T01:00:00Z")], instants);
    }

    [Theory]
    [InlineData("Europe/Paris", "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z", "2026-10-25T00:30:00Z")]      // 02:30 CEST, not also 02:30 CET
    [InlineData("America/New_York", "2026-10-31T12:00:00Z", "2026-11-01T12:00:00Z", "2026-11-01T05:30:00Z")]  // 01:30 EDT, not also 01:30 EST
    public void A_slot_in_the_repeated_autumn_hour_is_taken_once(string zone, string from, string until, string expected)
    {
        var time = zone == "Europe/Paris" ? Slot(IsoDayOfWeek.Sunday, 2, 30) : Slot(IsoDayOfWeek.Sunday, 1, 30);
        Assert.Equal([At(expected)], Slots(QueueSlots.Zone(zone)!, from, until, time));
    }

    [Fact]
    public void Only_slots_after_now_count()
    {
        var instants = Slots(Paris, "2026-01-05T08:00:00Z", "2026-01-13T00:00:00Z", Slot(IsoDayOfWeek.Monday, 9));
        Assert.Equal([At("2026-01-12T08:00:00Z")], instants);
    }

    [Fact]
    public void The_earliest_common_slot_of_two_zones_waits_for_both_to_change_clocks()
    {
        // 15:00 Paris and 09:00 New York are the same instant except between the US (8 March) and the EU (29 March) changes.
        var queues = new List<(DateTimeZone, IReadOnlyCollection<WeeklySlot>)>
        {
            (Paris, [Slot(IsoDayOfWeek.Monday, 15)]),
            (NewYork, [Slot(IsoDayOfWeek.Monday, 9)]),
        };
        Assert.Equal(At("2026-03-30T13:00:00Z"), QueueSlots.EarliestCommonFree(queues, new HashSet<Instant>(), At("2026-03-02T15:00:00Z")));
        Assert.Equal(At("2026-03-02T14:00:00Z"), QueueSlots.EarliestCommonFree(queues, new HashSet<Instant>(), At("2026-03-02T00:00:00Z")));
    }

    [Fact]
    public void A_taken_slot_is_skipped_and_none_within_90_days_is_null()
    {
        var queue = new List<(DateTimeZone, IReadOnlyCollection<WeeklySlot>)> { (Paris, [Slot(IsoDayOfWeek.Monday, 9)]) };
        var now = At("2026-01-01T00:00:00Z");
        Assert.Equal(At("2026-01-12T08:00:00Z"), QueueSlots.EarliestCommonFree(queue, new HashSet<Instant> { At("2026-01-05T08:00:00Z") }, now));

        var all = QueueSlots.Between(Paris, [Slot(IsoDayOfWeek.Monday, 9)], now, now + QueueSlots.Horizon).ToHashSet();
        Assert.Null(QueueSlots.EarliestCommonFree(queue, all, now));
        var disjoint = new List<(DateTimeZone, IReadOnlyCollection<WeeklySlot>)> { (Paris, [Slot(IsoDayOfWeek.Monday, 9)]), (Paris, [Slot(IsoDayOfWeek.Monday, 10)]) };
        Assert.Null(QueueSlots.EarliestCommonFree(disjoint, new HashSet<Instant>(), now));
    }

    [Theory]
    [InlineData(null, "mon", "09:00", "timezone")]
    [InlineData("Mars/Olympus", "mon", "09:00", "timezone")]
    [InlineData("Europe/Paris", "monday", "09:00", "slots[0].day")]
    [InlineData("Europe/Paris", null, "09:00", "slots[0].day")]
    [InlineData("Europe/Paris", "mon", "9:00", "slots[0].time")]
    [InlineData("Europe/Paris", "mon", "24:00", "slots[0].time")]
    [InlineData("Europe/Paris", "mon", "09:00:00", "slots[0].time")]
    [InlineData("Europe/Paris", "mon", null, "slots[0].time")]
    public void A_bad_schedule_is_422_on_its_field(string? zone, string? day, string? time, string path)
        => AssertValidation(() => QueueSlots.Validate(zone, [(day, time)]), path);

    [Fact]
    public void More_than_100_slots_or_a_repeated_slot_is_422()
    {
        var many = Enumerable.Range(0, 101).Select(i => ((string?, string?)?)(QueueSlots.DayNames[i % 7], $"{i % 24:00}:{i / 24:00}")).ToList();
        AssertValidation(() => QueueSlots.Validate("Europe/Paris", many), "slots");
        Assert.Equal(100, QueueSlots.Validate("Europe/Paris", many.Take(100).ToList()).Slots.Count);
        AssertValidation(() => QueueSlots.Validate("Europe/Paris", [("mon", "09:00"), ("mon", "09:00")]), "slots[1]");
        AssertValidation(() => QueueSlots.Validate("Europe/Paris", null), "slots");
    }

    private static void AssertValidation(Action act, string path)
    {
        var error = Assert.Throws<ApiException>(act);
        Assert.Equal(422, error.Status);
        Assert.Equal(path, Assert.Single(error.Issues!).Path);
    }
}
