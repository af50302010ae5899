using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Sandbox;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>
/// The sandbox platform's fault injection (docs/publishing.md#fault-injection: latency, 5xx, 429 and timeouts on demand), driven through its
/// <c>/sandbox/faults</c> endpoints and observed through the sandbox connector. Faults are set per handle, so the
/// tests of this class do not see each other's.
/// </summary>
public sealed class SandboxFaultTests(WebApplicationFactory<StatusStore> sandbox) : IClassFixture<WebApplicationFactory<StatusStore>>
{
    [Fact]
    public async Task Failing_the_next_requests_answers_them_with_the_status_and_records_nothing_then_posts()
    {
        var target = SandboxConnectorTests.Target(SandboxConnectorTests.Unique("flaky"), "Third time lucky");
        await SetFaultAsync(new { handle = target.AccountHandle, status = 503, failNext = 2 });
        var connector = SandboxConnectorTests.Connector(sandbox.CreateClient());

        var first = Assert.IsType<ConnectorResult.Failed>(await connector.PublishAsync(target, CancellationToken.None));
        var second = Assert.IsType<ConnectorResult.Failed>(await connector.PublishAsync(target, CancellationToken.None));
        Assert.Empty(await RecordedFor(target.AccountHandle));
        var third = Assert.IsType<ConnectorResult.Published>(await connector.PublishAsync(target, CancellationToken.None));

        Assert.All([first, second], f => Assert.Equal((ConnectorErrors.PlatformError, true), (f.Code, f.Retryable)));
        Assert.Equal(third.ExternalId, Assert.Single(await RecordedFor(target.AccountHandle)).Id);
    }

    [Fact]
    public async Task An_injected_429_carries_its_Retry_After()
    {
        var target = SandboxConnectorTests.Target(SandboxConnectorTests.Unique("busy"), "Slow down");
        await SetFaultAsync(new { handle = target.AccountHandle, status = 429, retryAfter = 42, failNext = 1 });

        var failed = Assert.IsType<ConnectorResult.Failed>(await SandboxConnectorTests.Connector(sandbox.CreateClient()).PublishAsync(target, CancellationToken.None));

        Assert.Equal((ConnectorErrors.RateLimited, true), (failed.Code, failed.Retryable));
        Assert.Equal(TimeSpan.FromSeconds(42), failed.RetryAfter);
        Assert.Empty(await RecordedFor(target.AccountHandle));
    }

    [Fact]
    public async Task Latency_delays_the_answer_but_the_status_is_posted()
    {
        var target = SandboxConnectorTests.Target(SandboxConnectorTests.Unique("laggy"), "Eventually");
        await SetFaultAsync(new { handle = target.AccountHandle, latencyMs = 400, failNext = 1 });
        var clock = Stopwatch.StartNew();

        var published = Assert.IsType<ConnectorResult.Published>(await SandboxConnectorTests.Connector(sandbox.CreateClient()).PublishAsync(target, CancellationToken.None));

        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(350), $"answered after {clock.Elapsed}");
        Assert.Equal(published.ExternalId, Assert.Single(await RecordedFor(target.AccountHandle)).Id);
    }

    [Fact]
    public async Task A_timeout_records_the_status_the_client_gave_up_on_and_the_retry_under_the_same_key_makes_no_second_copy()
    {
        var target = SandboxConnectorTests.Target(SandboxConnectorTests.Unique("hung"), "Did it go out?");
        await SetFaultAsync(new { handle = target.AccountHandle, mode = "timeout", failNext = 1 });
        var impatient = sandbox.CreateClient();
        impatient.Timeout = TimeSpan.FromMilliseconds(300);

        var failed = Assert.IsType<ConnectorResult.Failed>(await SandboxConnectorTests.Connector(impatient).PublishAsync(target, CancellationToken.None));
        var recorded = Assert.Single(await RecordedFor(target.AccountHandle));
        var retried = Assert.IsType<ConnectorResult.Published>(await SandboxConnectorTests.Connector(sandbox.CreateClient()).PublishAsync(target, CancellationToken.None));

        Assert.Equal((ConnectorErrors.Timeout, true, true), (failed.Code, failed.Retryable, failed.OutcomeUnknown));
        Assert.Equal(recorded.Id, retried.ExternalId);
        Assert.Single(await RecordedFor(target.AccountHandle));
    }

    [Fact]
    public async Task Clearing_the_faults_lets_requests_through_again()
    {
        var target = SandboxConnectorTests.Target(SandboxConnectorTests.Unique("healed"), "Back up");
        await SetFaultAsync(new { handle = target.AccountHandle, status = 500 });
        var connector = SandboxConnectorTests.Connector(sandbox.CreateClient());
        Assert.IsType<ConnectorResult.Failed>(await connector.PublishAsync(target, CancellationToken.None));
        Assert.IsType<ConnectorResult.Failed>(await connector.PublishAsync(target, CancellationToken.None));

        (await sandbox.CreateClient().DeleteAsync("/sandbox/faults")).EnsureSuccessStatusCode();

        Assert.IsType<ConnectorResult.Published>(await connector.PublishAsync(target, CancellationToken.None));
        Assert.Empty(await sandbox.CreateClient().GetFromJsonAsync<List<ActiveFault>>("/sandbox/faults") ?? []);
    }

    [Fact]
    public async Task A_fault_for_one_handle_leaves_the_others_alone()
    {
        var victim = SandboxConnectorTests.Target(SandboxConnectorTests.Unique("victim"), "Refused");
        var bystander = SandboxConnectorTests.Target(SandboxConnectorTests.Unique("bystander"), "Fine");
        await SetFaultAsync(new { handle = victim.AccountHandle, status = 503 });
        var connector = SandboxConnectorTests.Connector(sandbox.CreateClient());

        Assert.IsType<ConnectorResult.Failed>(await connector.PublishAsync(victim, CancellationToken.None));
        Assert.IsType<ConnectorResult.Published>(await connector.PublishAsync(bystander, CancellationToken.None));
    }

    [Theory]
    [InlineData("""{"status": 200}""")]
    [InlineData("""{"status": 503, "failNext": 0}""")]
    [InlineData("""{"mode": "explode"}""")]
    [InlineData("""{"handle": "nobody"}""")]
    public async Task A_fault_that_makes_no_sense_is_refused(string body)
    {
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");

        var response = await sandbox.CreateClient().PostAsync("/sandbox/faults", content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    private async Task SetFaultAsync(object fault)
        => (await sandbox.CreateClient().PostAsJsonAsync("/sandbox/faults", fault)).EnsureSuccessStatusCode();

    private async Task<List<RecordedStatus>> RecordedFor(string account)
        => [.. (await sandbox.CreateClient().GetFromJsonAsync<List<RecordedStatus>>("/sandbox/statuses") ?? []).Where(s => s.Account == account)];
}
