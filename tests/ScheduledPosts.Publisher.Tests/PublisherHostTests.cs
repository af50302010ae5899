using System.Net;
using System.Net.Http.Json;
using MassTransit;
using MassTransit.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Publisher.Connectors.Sandbox;
using ScheduledPosts.Publisher.Publishing;
using ScheduledPosts.Sandbox;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>
/// The publisher as it is wired (bus consumer, gRPC client with its identity, sandbox connector), with the bus in
/// memory, the scheduling service faked and the sandbox platform real.
/// </summary>
public sealed class PublisherHostTests(WebApplicationFactory<StatusStore> sandbox)
    : IClassFixture<WebApplicationFactory<StatusStore>>, IAsyncLifetime
{
    private FakeScheduling _scheduling = null!;
    private WebApplicationFactory<TargetPublisher> _publisher = null!;

    public async Task InitializeAsync()
    {
        _scheduling = await FakeScheduling.StartAsync();
        _publisher = new WebApplicationFactory<TargetPublisher>().WithWebHostBuilder(builder => builder
            .UseSetting("Internal:Secret", FakeScheduling.Secret)
            .UseSetting("Scheduling:GrpcUrl", "http://scheduling.test")
            .UseSetting("Sandbox:BaseUrl", "http://sandbox.test")
            .ConfigureTestServices(services =>
            {
                services.AddMassTransitTestHarness();
                // The clients' names are their type names (HttpClientFactory's and grpc-dotnet's convention).
                services.AddHttpClient(nameof(Targets.TargetsClient)).ConfigurePrimaryHttpMessageHandler(_scheduling.CreateHandler);
                services.AddHttpClient(nameof(SandboxConnector)).ConfigurePrimaryHttpMessageHandler(() => sandbox.Server.CreateHandler());
            }));
    }

    public async Task DisposeAsync()
    {
        await _publisher.DisposeAsync();
        await _scheduling.DisposeAsync();
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
    public async Task Health_is_served_without_an_identity()
    {
        var response = await _publisher.CreateClient().GetAsync("/healthz");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
