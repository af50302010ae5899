using System.Collections.Concurrent;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Publisher.Publishing;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>
/// A removal (unpublish) runs like an upload: it waits for the account's share of the publisher's own limits, and keeps
/// its lease while the platform takes its time (docs/publishing.md#unpublish).
/// </summary>
public sealed class TargetUnpublisherTests : IAsyncLifetime
{
    private FakeScheduling _scheduling = null!;

    public async Task InitializeAsync() => _scheduling = await FakeScheduling.StartAsync();

    public async Task DisposeAsync() => await _scheduling.DisposeAsync();

    [Fact]
    public async Task No_more_deletions_for_one_account_run_at_once_than_the_upload_limit()
    {
        _scheduling.Targets.OnClaimUnpublish = r => FakeTargetsService.GrantedRemoval(r, SlowDeleter.Name, "alice", TimeSpan.FromMinutes(1));
        var release = new TaskCompletionSource();
        var connector = new SlowDeleter(async ct =>
        {
            await release.Task.WaitAsync(ct);
            return null;
        });
        var limits = new UploadLimitsOptions { ConcurrentUploadsPerAccount = 1 };
        var uploadLimits = new UploadLimits(Options.Create(limits), TimeProvider.System);
        var unpublisher = Unpublisher(connector, limits, uploadLimits);

        var first = unpublisher.UnpublishAsync(new TargetUnpublishDue("post_1", "tgt_1"), CancellationToken.None);
        var second = unpublisher.UnpublishAsync(new TargetUnpublishDue("post_2", "tgt_2"), CancellationToken.None);

        // One deletion at the platform, the other waiting for the account's slot.
        await Eventually.Until(() => Task.FromResult((connector.InFlight, uploadLimits.Waiting("acc_alice"))), s => s == (1, 1L),
            TimeSpan.FromSeconds(10), "one deletion running and one waiting");
        release.SetResult();
        await Task.WhenAll(first, second);

        Assert.Equal(1, connector.MostInFlight);
        Assert.Equal(["tgt_1", "tgt_2"], connector.Deleted.Order());
        Assert.All(_scheduling.Targets.UnpublishCompletions, c => Assert.Null(c.Failed));
    }

    [Fact]
    public async Task A_deletion_that_outlasts_several_leases_keeps_its_claim_by_renewing_it()
    {
        _scheduling.Targets.OnClaimUnpublish = r => FakeTargetsService.GrantedRemoval(r, SlowDeleter.Name, "alice", TimeSpan.FromSeconds(2));
        var connector = new SlowDeleter(async ct =>
        {
            await Eventually.Until(() => Task.FromResult(_scheduling.Targets.Renewals.Count), n => n >= 3, TimeSpan.FromSeconds(20), "three renewals");
            return null;
        });

        var (claimed, failure) = await Unpublisher(connector).UnpublishAsync(new TargetUnpublishDue("post_1", "tgt_1"), CancellationToken.None);

        Assert.True(claimed);
        Assert.Null(failure);
        Assert.False(connector.Cancelled);
        Assert.All(_scheduling.Targets.Renewals, r => Assert.Equal(("tgt_1", "lease_tgt_1"), (r.TargetId, r.LeaseToken)));
        Assert.Null(Assert.Single(_scheduling.Targets.UnpublishCompletions).Failed);
    }

    [Fact]
    public async Task A_deletion_whose_claim_is_no_longer_the_live_one_is_stopped_and_reported_retryable()
    {
        _scheduling.Targets.OnClaimUnpublish = r => FakeTargetsService.GrantedRemoval(r, SlowDeleter.Name, "alice", TimeSpan.FromSeconds(2));
        _scheduling.Targets.OnRenew = _ => throw new RpcException(new Status(StatusCode.FailedPrecondition, "This claim is no longer the live one."));
        var connector = new SlowDeleter(async ct =>
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            return null;
        });

        var (_, failure) = await Unpublisher(connector).UnpublishAsync(new TargetUnpublishDue("post_1", "tgt_1"), CancellationToken.None);

        Assert.True(connector.Cancelled);
        Assert.Equal((ConnectorErrors.Interrupted, true), (failure?.Code, failure?.Retryable));
        Assert.Single(_scheduling.Targets.Renewals);
        Assert.Equal(ConnectorErrors.Interrupted, Assert.Single(_scheduling.Targets.UnpublishCompletions).Failed.ErrorCode);
    }

    private TargetUnpublisher Unpublisher(SlowDeleter connector, UploadLimitsOptions? limits = null, UploadLimits? uploadLimits = null)
    {
        limits ??= new UploadLimitsOptions();
        return new TargetUnpublisher(
            _scheduling.CreateClient(),
            new ConnectorRegistry([connector]),
            uploadLimits ?? new UploadLimits(Options.Create(limits), TimeProvider.System),
            Options.Create(new SchedulingOptions { CompleteRetries = 3, CompleteRetryDelay = TimeSpan.FromMilliseconds(10) }),
            Options.Create(limits),
            TimeProvider.System,
            NullLogger<TargetUnpublisher>.Instance);
    }

    private sealed class SlowDeleter(Func<CancellationToken, Task<ConnectorResult.Failed?>> delete) : IUnpublishingConnector
    {
        public const string Name = "slow";
        private int _inFlight;
        private int _mostInFlight;

        public PlatformCapabilities Capabilities { get; } = new(Name, 500, SupportsIdempotencyKey: true, SupportsFirstComment: false, [MediaKind.Image], MaxMedia: 4,
            Unpublishes: true);

        public bool Cancelled { get; private set; }

        public int InFlight => Volatile.Read(ref _inFlight);

        public int MostInFlight => Volatile.Read(ref _mostInFlight);

        public ConcurrentQueue<string> Deleted { get; } = new();

        public Task<ConnectorResult> PublishAsync(Upload upload, CancellationToken cancellationToken) => throw new NotSupportedException();

        public async Task<ConnectorResult.Failed?> UnpublishAsync(Removal removal, CancellationToken cancellationToken)
        {
            int now = Interlocked.Increment(ref _inFlight);
            InterlockedMax(ref _mostInFlight, now);
            try
            {
                var failure = await delete(cancellationToken);
                Deleted.Enqueue(removal.TargetId);
                return failure;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                Cancelled = true;
                throw;
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }

        private static void InterlockedMax(ref int location, int value)
        {
            int seen;
            while ((seen = Volatile.Read(ref location)) < value && Interlocked.CompareExchange(ref location, value, seen) != seen)
            {
            }
        }
    }
}
