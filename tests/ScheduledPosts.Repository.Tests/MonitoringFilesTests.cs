using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Repository.Tests;

/// <summary>
/// The alerting rules and the dashboard in deploy/monitoring: Prometheus' own tool accepts the rules and their unit
/// tests pass, and every metric of ours they use is one docs/operations.md lists (so a renamed metric fails here).
/// </summary>
public sealed partial class MonitoringFilesTests
{
    private static readonly string Monitoring = Path.Combine(Suite.RepoRoot, "deploy", "monitoring");

    [GeneratedRegex(@"\bscheduledposts_[a-z_]+")]
    private static partial Regex OurMetric();

    [GeneratedRegex(@"_(bucket|count|sum)$")]
    private static partial Regex HistogramSeries();

    [Theory]
    [InlineData("check", "rules", "alerts.yml")]
    [InlineData("test", "rules", "alerts.test.yml")]
    public async Task Promtool_accepts_the_alerting_rules_and_their_tests_pass(string command, string what, string file)
    {
        var start = new ProcessStartInfo("promtool", [command, what, file])
        {
            WorkingDirectory = Monitoring,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        string errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.True(process.ExitCode == 0, $"promtool {command} {what} {file} exited {process.ExitCode}: {await output}{errors}");
    }

    [Fact]
    public void Every_metric_the_alerts_and_the_dashboard_use_is_one_the_operations_page_lists()
    {
        string documented = File.ReadAllText(Path.Combine(Suite.RepoRoot, "docs", "operations.md"));
        var dashboard = JsonNode.Parse(File.ReadAllText(Path.Combine(Monitoring, "grafana", "scheduledposts.json")))!;
        var panels = dashboard["panels"]!.AsArray();
        Assert.NotEmpty(panels);
        Assert.All(panels, p => Assert.NotEmpty(p!["targets"]!.AsArray()));

        string used = File.ReadAllText(Path.Combine(Monitoring, "alerts.yml")) + dashboard.ToJsonString();
        var metrics = OurMetric().Matches(used).Select(m => HistogramSeries().Replace(m.Value, "")).ToHashSet();

        Assert.Contains("scheduledposts_targets_overdue", metrics);
        Assert.All(metrics, metric => Assert.True(documented.Contains($"`{metric}", StringComparison.Ordinal),
            $"{metric} is used in deploy/monitoring but not listed in docs/operations.md#metrics"));
    }
}
