using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// A real Prometheus (Debian's) scraping the running suite: the lag histograms fill as posts publish; with the publisher
/// stopped while a post falls due, scheduling's <c>/readyz</c> says Degraded and the overdue gauge rises in Prometheus,
/// and both recover once the publisher is back (docs/operations.md#self-watch).
/// </summary>
public sealed class MonitoringTests(MonitoringTests.WatchfulStack stack) : IClassFixture<MonitoringTests.WatchfulStack>, IAsyncLifetime
{
    /// <summary>A short overdue threshold and measuring interval, so the test waits seconds rather than half a minute.</summary>
    public sealed class WatchfulStack : Stack
    {
        protected override void Configure(string service, Dictionary<string, string> environment)
        {
            if (service == "scheduling")
            {
                environment["Watch__OverdueAfter"] = "00:00:02";
                environment["Watch__Interval"] = "00:00:00.200";
            }
        }
    }

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly string _data = Directory.CreateTempSubdirectory("sp-prometheus-").FullName;
    private readonly int _port = Suite.FreePort();
    private Process? _prometheus;

    public async Task InitializeAsync()
    {
        string Target(string service) => $"'{new Uri(stack[service].HealthUrl, "/").Authority}'";
        string config = Path.Combine(_data, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
            scrape_configs:
              - job_name: scheduling
                static_configs: [{"{"} targets: [{Target("scheduling")}] {"}"}]
              - job_name: publisher
                static_configs: [{"{"} targets: [{Target("publisher")}] {"}"}]
              - job_name: webhooks
                static_configs: [{"{"} targets: [{Target("webhooks")}] {"}"}]
              - job_name: gateway
                authorization: {"{"} credentials: '{Stack.AdminToken}' {"}"}
                static_configs: [{"{"} targets: [{Target("gateway")}] {"}"}]
            """);
        _prometheus = Process.Start(new ProcessStartInfo("prometheus",
            [$"--config.file={config}", $"--storage.tsdb.path={Path.Combine(_data, "tsdb")}", $"--web.listen-address=127.0.0.1:{_port}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        _prometheus.OutputDataReceived += (_, _) => { };
        _prometheus.ErrorDataReceived += (_, _) => { };
        _prometheus.BeginOutputReadLine();
        _prometheus.BeginErrorReadLine();
        // Every service scraped, the gateway with the admin token.
        await Eventually.Until(() => ValueAsync("count(up == 1)"), up => up == 4, Patience, "Prometheus to scrape all four services");
    }

    public async Task DisposeAsync()
    {
        if (_prometheus is { HasExited: false } prometheus)
        {
            prometheus.Kill(entireProcessTree: true);
            await prometheus.WaitForExitAsync();
        }

        _prometheus?.Dispose();
        Directory.Delete(_data, recursive: true);
    }

    [Fact]
    public async Task Prometheus_sees_the_lag_of_published_posts_and_an_overdue_post_while_the_publisher_is_down_until_it_is_back()
    {
        string account = await stack.ConnectSandboxAccountAsync($"watched-{Guid.NewGuid():N}");
        string first = (await stack.CreatePostAsync("Watched as it goes out", account, DateTimeOffset.UtcNow.AddSeconds(1)))["id"]!.GetValue<string>();
        await Eventually.Until(() => stack.GetPostAsync(first), p => p["status"]!.GetValue<string>() == "published", Patience, "the first post to be published");

        await Eventually.Until(() => ValueAsync("sum(scheduledposts_claim_lag_seconds_count)"), n => n >= 1, Patience, "the claim lag histogram in Prometheus");
        await Eventually.Until(() => ValueAsync("sum(scheduledposts_dispatch_lag_seconds_count{message_type=\"TargetDue\"})"), n => n >= 1, Patience,
            "the dispatch lag histogram in Prometheus");
        await Eventually.Until(() => ValueAsync("sum(scheduledposts_publish_attempts_total{platform=\"sandbox\",outcome=\"published\"})"), n => n >= 1, Patience,
            "the publisher's attempts in Prometheus");
        Assert.Equal(0, await ValueAsync("max(scheduledposts_targets_overdue)"));

        await stack["publisher"].KillAsync();
        string late = (await stack.CreatePostAsync("Due while the publisher is down", account, DateTimeOffset.UtcNow))["id"]!.GetValue<string>();

        var degraded = await Eventually.Until(ReadyAsync, OnlyOverdue, Patience,
            "scheduling's /readyz to say the target is overdue");
        Assert.Equal(HttpStatusCode.OK, degraded.Status);
        Assert.Equal("Degraded", degraded.Body["status"]!.GetValue<string>());
        Assert.Equal(1, degraded.Body["checks"]!["overdue"]!["data"]!["overdueTargets"]!.GetValue<long>());
        await Eventually.Until(() => ValueAsync("max(scheduledposts_targets_overdue)"), n => n == 1, Patience, "the overdue gauge to rise in Prometheus");
        Assert.Equal("scheduled", (await stack.GetPostAsync(late))["status"]!.GetValue<string>());

        await stack["publisher"].StartAsync();

        await Eventually.Until(() => stack.GetPostAsync(late), p => p["status"]!.GetValue<string>() == "published", Patience, "the late post to be published");
        await Eventually.Until(ReadyAsync, r => r.Body["status"]!.GetValue<string>() == "Healthy", Patience, "scheduling's /readyz to recover");
        await Eventually.Until(() => ValueAsync("max(scheduledposts_targets_overdue)"), n => n == 0, Patience, "the overdue gauge to fall in Prometheus");
    }

    /// <summary>Overdue, and every other check (database, broker) healthy: what the answer's status code is then is the point.</summary>
    private static bool OnlyOverdue((HttpStatusCode Status, JsonObject Body) ready) => ready.Body["checks"]!.AsObject().All(c =>
        c.Value!["status"]!.GetValue<string>() == (c.Key == "overdue" ? "Degraded" : "Healthy"));

    private async Task<(HttpStatusCode Status, JsonObject Body)> ReadyAsync()
    {
        using var http = new HttpClient();
        var response = await http.GetAsync(new Uri(stack["scheduling"].HealthUrl, "/readyz"));
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }

    /// <summary>The single value of an instant query; NaN while it has no result (nothing scraped yet).</summary>
    private async Task<double> ValueAsync(string query)
    {
        try
        {
            using var http = new HttpClient();
            var answer = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{_port}/api/v1/query?query={Uri.EscapeDataString(query)}"))!;
            var result = answer["data"]!["result"]!.AsArray();
            return result.Count == 0 ? double.NaN : double.Parse(result[0]!["value"]![1]!.GetValue<string>(), CultureInfo.InvariantCulture);
        }
        catch (HttpRequestException)
        {
            return double.NaN; // Prometheus is still starting
        }
    }
}
