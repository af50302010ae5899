using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using MassTransit;
using MassTransit.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Publisher.Connectors.Bluesky;
using ScheduledPosts.Publisher.Connectors.Mastodon;
using ScheduledPosts.Publisher.Connectors.Sandbox;
using ScheduledPosts.Publisher.Publishing;
using ScheduledPosts.Sandbox;
using ScheduledPosts.Testing;
using ScheduledPosts.Testing.FakePlatforms;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>
/// The publisher as it is wired (bus consumer, gRPC client with its identity, sandbox connector), with the bus in
/// memory, the scheduling service faked and the sandbox platform real.
/// </summary>
public sealed class PublisherHostTests(WebApplicationFactory<StatusStore> sandbox)
    : IClassFixture<WebApplicationFactory<StatusStore>>, IAsyncLifetime
{
    private readonly List<WebApplicationFactory<TargetPublisher>> _factories = [];
    private FakeScheduling _scheduling = null!;
    private FakeMastodon _mastodon = null!;
    private WebApplicationFactory<TargetPublisher> _publisher = null!;

    public async Task InitializeAsync()
    {
        _scheduling = await FakeScheduling.StartAsync();
        _mastodon = await FakeMastodon.StartAsync();
        _publisher = Publisher();
    }

    public async Task DisposeAsync()
    {
        foreach (var factory in _factories)
        {
            await factory.DisposeAsync();
        }

        await _mastodon.DisposeAsync();
        await _scheduling.DisposeAsync();
    }

    private WebApplicationFactory<TargetPublisher> Publisher(Dictionary<string, string>? settings = null, FakeScheduling? schedulingOverSockets = null,
        FakeBluesky? bluesky = null)
    {
        var factory = new WebApplicationFactory<TargetPublisher>().WithWebHostBuilder(builder =>
        {
            builder.UseSetting("Internal:SigningKeys:publisher", InternalKeys.Publisher.PrivatePem)
                .UseSetting("Scheduling:GrpcUrl", schedulingOverSockets?.Url ?? "http://scheduling.test")
                .UseSetting("Sandbox:BaseUrl", "http://sandbox.test");
            foreach (var (key, value) in settings ?? [])
            {
                builder.UseSetting(key, value);
            }

            builder.ConfigureTestServices(services =>
            {
                services.AddMassTransitTestHarness();
                // The connectors' clients are named after their types (HttpClientFactory's convention).
                if (schedulingOverSockets is null)
                {
                    services.AddHttpClient(Extensions.SchedulingClient).ConfigurePrimaryHttpMessageHandler(_scheduling.CreateHandler);
                }

                services.AddHttpClient(nameof(SandboxConnector)).ConfigurePrimaryHttpMessageHandler(() => sandbox.Server.CreateHandler());
                services.AddHttpClient(nameof(MastodonConnector)).ConfigurePrimaryHttpMessageHandler(_mastodon.CreateHandler);
                if (bluesky is not null)
                {
                    services.AddHttpClient(nameof(BlueskyConnector)).ConfigurePrimaryHttpMessageHandler(bluesky.CreateHandler);
                }
            });
        });
        _factories.Add(factory);
        return factory;
    }

    [Fact]
    public async Task A_due_sandbox_target_is_posted_to_the_sandbox_and_completed_with_its_status()
    {
        string handle = SandboxConnectorTests.Unique("alice");
        _scheduling.Targets.OnClaim = r => FakeTargetsService.Granted(r, SandboxConnector.PlatformName, handle, "Launch day!");
        var harness = _publisher.Services.GetTestHarness();

        await harness.Bus.Publish(new TargetDue("post_1", "tgt_1", 2));

        await Eventually.Until(() => Task.FromResult(_scheduling.Targets.Completions.Count), n => n > 0, TimeSpan.FromSeconds(10), "the target's completion");
        var completion = Assert.Single(_scheduling.Targets.Completions);
        var recorded = Assert.Single(await sandbox.CreateClient().GetFromJsonAsync<List<RecordedStatus>>("/sandbox/statuses") ?? [], s => s.Account == handle);
        Assert.Equal("Launch day!", recorded.Status);
        Assert.Equal("tgt_1:publish", recorded.IdempotencyKey);
        Assert.Equal(recorded.Id, completion.Published.ExternalPostId);
        Assert.Equal($"http://sandbox.test/@{handle}/{recorded.Id}", completion.Published.ExternalUrl);
        Assert.Equal("lease_tgt_1", completion.LeaseToken);
        Assert.All(_scheduling.Targets.Callers, c => Assert.Equal("svc_publisher", c.KeyId));
    }

    [Fact]
    public async Task A_due_Bluesky_target_is_published_through_the_wired_connector_and_completed_with_its_record()
    {
        await using var pds = await FakeBluesky.StartAsync();
        _scheduling.Targets.OnClaim = r =>
        {
            var granted = FakeTargetsService.Granted(r, Platforms.Bluesky, FakeBluesky.Handle, "Hello from the publisher, @bob.test");
            granted.Target.CredentialsJson = FakeBluesky.Credentials();
            return granted;
        };
        var harness = Publisher(bluesky: pds).Services.GetTestHarness();

        await harness.Bus.Publish(new TargetDue("post_1", "tgt_1", 2));

        await Eventually.Until(() => Task.FromResult(_scheduling.Targets.Completions.Count), n => n > 0, TimeSpan.FromSeconds(10), "the target's completion");
        var completion = Assert.Single(_scheduling.Targets.Completions);
        var record = Assert.Single(pds.Records);
        Assert.Equal(record.Uri, completion.Published.ExternalPostId);
        Assert.Equal($"https://bsky.app/profile/{FakeBluesky.Did}/post/{record.Rkey}", completion.Published.ExternalUrl);
        Assert.Equal(BlueskyRecordKey.From("tgt_1:publish"), record.Rkey);
    }

    [Fact]
    public async Task A_due_LinkedIn_page_target_is_published_through_the_wired_connector_over_the_outbound_policy()
    {
        await using var linkedIn = await FakeLinkedIn.StartAsync();
        string credentials = linkedIn.Credentials(FakeLinkedIn.Organizations[0].Urn, "w_organization_social", "r_organization_social");
        _scheduling.Targets.OnClaim = r =>
        {
            var granted = FakeTargetsService.Granted(r, Platforms.LinkedInCompany, "devtestco", "Hello from the publisher (wired)");
            granted.Target.CredentialsJson = credentials;
            return granted;
        };
        // The fake listens on loopback over http: the deployment's policy must allow it, as the dev stack's does.
        var harness = Publisher(new Dictionary<string, string>
        {
            ["LinkedIn:BaseUrl"] = linkedIn.BaseUrl.AbsoluteUri,
            ["Outbound:AllowHttp"] = "true",
            ["Outbound:AllowLoopback"] = "true",
        }).Services.GetTestHarness();

        await harness.Bus.Publish(new TargetDue("post_1", "tgt_1", 2));

        await Eventually.Until(() => Task.FromResult(_scheduling.Targets.Completions.Count), n => n > 0, TimeSpan.FromSeconds(10), "the target's completion");
        var completion = Assert.Single(_scheduling.Targets.Completions);
        var post = Assert.Single(linkedIn.Posts);
        Assert.Equal("Hello from the publisher (wired)", post.Text);
        Assert.Equal(post.Urn, completion.Published.ExternalPostId);
        Assert.Equal($"https://www.linkedin.com/feed/update/{post.Urn}/", completion.Published.ExternalUrl);
    }

    [Fact]
    public async Task A_due_X_target_is_published_through_the_wired_connector_over_the_network_to_the_configured_host()
    {
        await using var x = await FakeX.StartAsync();
        string token = x.GrantAccessToken();
        _scheduling.Targets.OnClaim = r =>
        {
            var granted = FakeTargetsService.Granted(r, Platforms.X, "@" + FakeX.Username, "Hello from the publisher https://example.org");
            granted.Target.CredentialsJson = $$"""{"accessToken": "{{token}}", "userId": "{{FakeX.UserId}}", "username": "{{FakeX.Username}}"}""";
            return granted;
        };
        // The fake listens on loopback, which the Outbound policy refuses unless allowed, as a deployment's fake would be.
        var harness = Publisher(new Dictionary<string, string>
        {
            ["X:BaseUrl"] = x.BaseUrl.AbsoluteUri, ["Outbound:AllowLoopback"] = "true", ["Outbound:AllowHttp"] = "true",
        }).Services.GetTestHarness();

        await harness.Bus.Publish(new TargetDue("post_1", "tgt_1", 2));

        await Eventually.Until(() => Task.FromResult(_scheduling.Targets.Completions.Count), n => n > 0, TimeSpan.FromSeconds(10), "the target's completion");
        var completion = Assert.Single(_scheduling.Targets.Completions);
        var post = Assert.Single(x.Posts);
        Assert.Equal("Hello from the publisher https://example.org", post.Text);
        Assert.Equal(post.Id, completion.Published.ExternalPostId);
        Assert.Equal($"https://x.com/{FakeX.Username}/status/{post.Id}", completion.Published.ExternalUrl);
    }

    [Fact]
    public async Task Targets_due_at_once_on_a_fresh_publisher_are_all_claimed_over_its_own_connection()
    {
        // The publisher's own SocketsHttpHandler, not the in-memory one: its first calls, made by many consumers at
        // once, once built two channels over one handler, and the losing half could fail every call for good.
        await using var scheduling = await FakeScheduling.StartAsync(overSockets: true);
        scheduling.Targets.OnClaim = _ => new ClaimTargetResponse { Claimed = false, Reason = "stale" };
        var harness = Publisher(schedulingOverSockets: scheduling).Services.GetTestHarness();

        await Task.WhenAll(Enumerable.Range(1, 32).Select(i => harness.Bus.Publish(new TargetDue($"post_{i}", $"tgt_{i}", 1))));

        await Eventually.Until(() => Task.FromResult(scheduling.Targets.Claims.Count), n => n == 32, TimeSpan.FromSeconds(20), "all 32 claims");
        Assert.False(await harness.Consumed.Any<TargetDue>(x => x.Exception is not null));
        Assert.All(scheduling.Targets.Callers, c => Assert.Equal("svc_publisher", c.KeyId));
    }

    [Fact]
    public async Task A_stale_target_is_consumed_and_dropped()
    {
        _scheduling.Targets.OnClaim = _ => new ClaimTargetResponse { Claimed = false, Reason = "stale" };
        var harness = _publisher.Services.GetTestHarness();

        await harness.Bus.Publish(new TargetDue("post_1", "tgt_1", 1));

        Assert.True(await harness.Consumed.Any<TargetDue>());
        Assert.False(await harness.Consumed.Any<TargetDue>(x => x.Exception is not null));
        Assert.Single(_scheduling.Targets.Claims);
        Assert.Empty(_scheduling.Targets.Completions);
    }

    [Fact]
    public async Task On_shutdown_an_upload_in_flight_finishes_and_its_target_is_completed()
    {
        // A slow upload, well within the grace period but slower than the shutdown takes to begin.
        _mastodon.Latency = TimeSpan.FromSeconds(1.5);
        GrantMastodonTargets();
        var publisher = Publisher();
        long stoppingAt = 0;
        publisher.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(() => stoppingAt = Stopwatch.GetTimestamp());
        await publisher.Services.GetTestHarness().Bus.Publish(new TargetDue("post_1", "tgt_1", 1));
        await Eventually.Until(() => Task.FromResult(_mastodon.InFlight), n => n == 1, TimeSpan.FromSeconds(10), "the upload in flight");

        await Stop(publisher).WaitAsync(TimeSpan.FromSeconds(30));

        var completion = Assert.Single(_scheduling.Targets.Completions);
        Assert.Equal(Assert.Single(_mastodon.Statuses).Id, completion.Published?.ExternalPostId);
        Assert.True(stoppingAt != 0 && stoppingAt < _mastodon.LastAnsweredAt, "the upload was still in flight when the publisher began to stop");
    }

    [Fact]
    public async Task On_shutdown_an_upload_that_outlasts_the_grace_period_is_handed_back_as_retryable()
    {
        using var gate = new SemaphoreSlim(0);
        _mastodon.Gate = gate;
        GrantMastodonTargets();
        var publisher = Publisher(new() { ["Publisher:UploadGracePeriod"] = "00:00:00.200" });
        await publisher.Services.GetTestHarness().Bus.Publish(new TargetDue("post_1", "tgt_1", 1));
        await Eventually.Until(() => Task.FromResult(_mastodon.InFlight), n => n == 1, TimeSpan.FromSeconds(10), "the upload in flight");

        await Stop(publisher).WaitAsync(TimeSpan.FromSeconds(30));

        var failed = Assert.Single(_scheduling.Targets.Completions).Failed;
        // Mastodon dedupes by key, so the retry may go ahead; elsewhere this would end as UNKNOWN_OUTCOME.
        Assert.Equal((ConnectorErrors.Interrupted, true), (failed?.ErrorCode, failed?.Retryable));
        Assert.Empty(_mastodon.Statuses);
        gate.Release();
    }

    // What SIGTERM does: the application's host.Run() stops its services (within HostOptions.ShutdownTimeout) and
    // then disposes them. Calling IHost.StopAsync here instead would race that Run() and its disposal.
    private static Task Stop(WebApplicationFactory<TargetPublisher> publisher)
    {
        var lifetime = publisher.Services.GetRequiredService<IHostApplicationLifetime>();
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lifetime.ApplicationStopped.Register(() => stopped.TrySetResult());
        lifetime.StopApplication();
        return stopped.Task;
    }

    private void GrantMastodonTargets() => _scheduling.Targets.OnClaim = r =>
    {
        var granted = FakeTargetsService.Granted(r, Platforms.Mastodon, "alice", "Goodbye");
        granted.Target.CredentialsJson = FakeMastodon.Credentials();
        return granted;
    };

    [Fact]
    public async Task Health_is_served_without_an_identity()
    {
        var response = await _publisher.CreateClient().GetAsync("/healthz");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
