using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>An upload slower than its lease keeps it; an upload whose claim is lost stops (docs/publishing.md#leases).</summary>
public sealed class LeaseRenewalTests : IAsyncLifetime
{
    private FakeScheduling _scheduling = null!;

    public async Task InitializeAsync()
    {
        _scheduling = await FakeScheduling.StartAsync();
        // A two-second lease, as the scheduling service grants them (with an expiry), renewed by a second each time.
        _scheduling.Targets.OnClaim = r =>
        {
            var granted = FakeTargetsService.Granted(r, SlowConnector.Name, "alice", "Hello");
            granted.Target.LeaseExpiresAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddSeconds(2));
            return granted;
        };
    }

    public async Task DisposeAsync() => await _scheduling.DisposeAsync();

    [Fact]
    public async Task An_upload_that_outlasts_several_leases_keeps_its_claim_by_renewing_it()
    {
        // The platform answers only after the lease would have run out three times over.
        var connector = new SlowConnector(async ct =>
        {
            await Eventually.Until(() => Task.FromResult(_scheduling.Targets.Renewals.Count), n => n >= 3, TimeSpan.FromSeconds(20), "three renewals");
            return new ConnectorResult.Published("42", "https://slow.test/42");
        });

        var result = await TargetPublisherTests.Publish(_scheduling, [connector]).PublishAsync(new TargetDue("post_1", "tgt_1", 1), CancellationToken.None);

        Assert.IsType<ConnectorResult.Published>(result);
        Assert.False(connector.Cancelled);
        Assert.All(_scheduling.Targets.Renewals, r => Assert.Equal(("tgt_1", "lease_tgt_1"), (r.TargetId, r.LeaseToken)));
        Assert.Equal("42", Assert.Single(_scheduling.Targets.Completions).Published.ExternalPostId);
    }

    [Fact]
    public async Task A_report_slower_than_the_lease_keeps_the_claim_until_it_is_answered()
    {
        // The upload is quick; the scheduling service, overloaded, takes its report only after two more renewals, by
        // which time the lease would have run out had nobody renewed it.
        int renewalsWhenUploaded = -1;
        var connector = new SlowConnector(_ =>
        {
            renewalsWhenUploaded = _scheduling.Targets.Renewals.Count;
            return Task.FromResult<ConnectorResult>(new ConnectorResult.Published("42", "https://slow.test/42"));
        });
        _scheduling.Targets.BeforeCompleting = () => Eventually.Until(() => Task.FromResult(_scheduling.Targets.Renewals.Count),
            n => n >= renewalsWhenUploaded + 2, TimeSpan.FromSeconds(20), "two renewals while the report waits");

        var result = await TargetPublisherTests.Publish(_scheduling, [connector]).PublishAsync(new TargetDue("post_1", "tgt_1", 1), CancellationToken.None);

        Assert.IsType<ConnectorResult.Published>(result);
        Assert.Equal("42", Assert.Single(_scheduling.Targets.Completions).Published.ExternalPostId);
    }

    [Fact]
    public async Task An_upload_whose_claim_is_no_longer_the_live_one_is_stopped()
    {
        _scheduling.Targets.OnRenew = _ => throw new RpcException(new Status(StatusCode.FailedPrecondition, "This claim is no longer the live one."));
        var connector = new SlowConnector(async ct =>
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            return new ConnectorResult.Published("never", "https://slow.test/never");
        });

        var result = await TargetPublisherTests.Publish(_scheduling, [connector]).PublishAsync(new TargetDue("post_1", "tgt_1", 1), CancellationToken.None);

        Assert.True(connector.Cancelled);
        var failed = Assert.IsType<ConnectorResult.Failed>(result);
        Assert.True(failed.OutcomeUnknown);
        Assert.Single(_scheduling.Targets.Renewals);
    }

    [Fact]
    public async Task An_upload_is_stopped_when_its_lease_runs_out_before_a_renewal_gets_through()
    {
        _scheduling.Targets.OnRenew = _ => throw new RpcException(new Status(StatusCode.Unavailable, "scheduling is restarting"));
        var connector = new SlowConnector(async ct =>
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            return new ConnectorResult.Published("never", "https://slow.test/never");
        });

        var result = await TargetPublisherTests.Publish(_scheduling, [connector]).PublishAsync(new TargetDue("post_1", "tgt_1", 1), CancellationToken.None);

        Assert.True(connector.Cancelled);
        Assert.True(Assert.IsType<ConnectorResult.Failed>(result).OutcomeUnknown);
        Assert.NotEmpty(_scheduling.Targets.Renewals); // it tried to keep the lease before giving the claim up
    }

    private sealed class SlowConnector(Func<CancellationToken, Task<ConnectorResult>> upload) : IConnector
    {
        public const string Name = "slow";

        public PlatformCapabilities Capabilities { get; } = new(Name, 500, SupportsIdempotencyKey: true, SupportsFirstComment: false, [MediaKind.Image], MaxMedia: 4);

        public bool Cancelled { get; private set; }

        public async Task<ConnectorResult> PublishAsync(Upload target, CancellationToken cancellationToken)
        {
            try
            {
                return await upload(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                Cancelled = true;
                throw;
            }
        }
    }
}
