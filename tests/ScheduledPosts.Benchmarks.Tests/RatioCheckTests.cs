using ScheduledPosts.Benchmarks;
using ScheduledPosts.Benchmarks.Reporting;
using ScheduledPosts.Benchmarks.Scenarios;

namespace ScheduledPosts.Benchmarks.Tests;

/// <summary>
/// <c>--assert-ratios</c>: the decision on two measured rates, and the refusal of a choice of scenarios that cannot
/// give both. No timed run: the rates are the inputs.
/// </summary>
public sealed class RatioCheckTests
{
    [Fact]
    public void The_figures_of_the_last_full_run_are_below_the_target()
    {
        // docs/performance.md: ours 262 claims/s, Quartz.NET 418 starts/s in the same run.
        var outcome = RatioCheck.BurstAgainstQuartz(262, 418);

        Assert.False(outcome.Met);
        Assert.Equal(0.63, outcome.Ratio!.Value, 2);
        Assert.Contains("262/s ÷ 418/s = 0.63×", outcome.Line, StringComparison.Ordinal);
        Assert.EndsWith("NOT MET", outcome.Line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1254, 418, true)]
    [InlineData(1253, 418, false)]
    [InlineData(5000, 418, true)]
    public void Three_times_Quartz_is_the_threshold(double ours, double quartz, bool met)
    {
        Assert.Equal(met, RatioCheck.BurstAgainstQuartz(ours, quartz).Met);
    }

    [Theory]
    [InlineData(null, 418.0)]
    [InlineData(262.0, null)]
    [InlineData(262.0, 0.0)]
    [InlineData(null, null)]
    public void A_burst_without_a_rate_is_a_miss_not_a_pass(double? ours, double? quartz)
    {
        var outcome = RatioCheck.BurstAgainstQuartz(ours, quartz);

        Assert.False(outcome.Met);
        Assert.Null(outcome.Ratio);
        Assert.Contains("no ratio", outcome.Line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "peers" }, true)]
    [InlineData(new[] { "precision", "burst", "peers" }, true)]
    [InlineData(new[] { "burst" }, false)]
    [InlineData(new[] { "precision", "api" }, false)]
    public void Only_a_choice_that_runs_the_peers_can_be_held_to_the_ratio(string[] chosen, bool accepted)
    {
        Assert.Equal(accepted, RatioCheck.Refusal(chosen, PeersScenario.Name) is null);
    }

    [Fact]
    public async Task The_program_refuses_the_flag_without_the_peers_before_starting_anything()
    {
        var error = new StringWriter();
        var before = Console.Error;
        Console.SetError(error);
        int exit;
        try
        {
            exit = await BenchmarkProgram.RunAsync(["burst", RatioCheck.Flag]);
        }
        finally
        {
            Console.SetError(before);
        }

        Assert.Equal(2, exit);
        Assert.Contains("add 'peers'", error.ToString(), StringComparison.Ordinal);
    }
}
