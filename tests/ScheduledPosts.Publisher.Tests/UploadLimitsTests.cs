using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Publisher.Connectors.Mastodon;
using ScheduledPosts.ServiceDefaults.Outbound;
using ScheduledPosts.Publisher.Publishing;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>The publisher's own limits: uploads per account at once, and a token bucket per account of a platform.</summary>
public sealed class UploadLimitsTests : IAsyncLifetime
{
    private FakeScheduling _scheduling = null!;
    private FakeMastodon _mastodon = null!;

    public async Task InitializeAsync()
    {
        _scheduling = await FakeScheduling.StartAsync();
        _mastodon = await FakeMastodon.StartAsync();
        // Every target belongs to the account named by its id's prefix ("alice-3" → alice).
        _scheduling.Targets.OnClaim = r =>
        {
            var granted = FakeTargetsService.Granted(r, Platforms.Mastodon, r.TargetId.Split('-')[0], $"Post {r.TargetId}");
            granted.Target.CredentialsJson = FakeMastodon.Credentials();
            return granted;
        };
    }

    public async Task DisposeAsync()
    {
        await _mastodon.DisposeAsync();
        await _scheduling.DisposeAsync();
    }

    [Fact]
    public async Task No_more_uploads_to_one_account_run_at_once_than_the_limit()
    {
        using var gate = new SemaphoreSlim(0);
        _mastodon.Gate = gate;
        var limits = new UploadLimitsOptions { ConcurrentUploadsPerAccount = 2 };
        var (publisher, uploadLimits) = Publisher(limits);

        var publishing = Enumerable.Range(0, 6).Select(i => publisher.PublishAsync(new TargetDue("post_1", $"alice-{i}", 1), CancellationToken.None)).ToList();
        // Two at the instance, the other four held back by the publisher: every upload has got as far as it can.
        await Eventually.Until(() => Task.FromResult((_mastodon.InFlight, uploadLimits.Waiting("acc_alice"))),
            s => s == (2, 4), TimeSpan.FromSeconds(10), "two uploads in flight and four waiting");
        gate.Release(6);
        var results = await Task.WhenAll(publishing);

        Assert.Equal(2, _mastodon.MaxInFlight);
        Assert.All(results, r => Assert.IsType<ConnectorResult.Published>(r));
        Assert.Equal(6, _mastodon.Statuses.Count);
        Assert.All(_scheduling.Targets.Completions, c => Assert.NotNull(c.Published));
    }

    [Fact]
    public async Task A_busy_account_does_not_hold_up_another()
    {
        using var gate = new SemaphoreSlim(0);
        _mastodon.Gate = gate;
        var (publisher, uploadLimits) = Publisher(new UploadLimitsOptions { ConcurrentUploadsPerAccount = 1 });

        var alice = new[] { publisher.PublishAsync(new TargetDue("post_1", "alice-1", 1), CancellationToken.None),
            publisher.PublishAsync(new TargetDue("post_1", "alice-2", 1), CancellationToken.None) };
        await Eventually.Until(() => Task.FromResult((_mastodon.InFlight, uploadLimits.Waiting("acc_alice"))),
            s => s == (1, 1), TimeSpan.FromSeconds(10), "alice's first upload in flight and her second waiting");
        var bob = publisher.PublishAsync(new TargetDue("post_1", "bob-1", 1), CancellationToken.None);

        await Eventually.Until(() => Task.FromResult(_mastodon.InFlight), n => n == 2, TimeSpan.FromSeconds(10), "bob's upload next to alice's");
        gate.Release(3);
        await Task.WhenAll([.. alice, bob]);
        Assert.Equal(3, _mastodon.Statuses.Count);
    }

    [Fact]
    public async Task Accounts_of_two_workspaces_with_the_same_handle_do_not_share_their_limits()
    {
        using var gate = new SemaphoreSlim(0);
        _mastodon.Gate = gate;
        // Both accounts are called "news"; their ids differ ("ws1-…" → acc_ws1).
        _scheduling.Targets.OnClaim = r =>
        {
            var granted = FakeTargetsService.Granted(r, Platforms.Mastodon, "news", $"Post {r.TargetId}");
            granted.Target.AccountId = $"acc_{r.TargetId.Split('-')[0]}";
            granted.Target.CredentialsJson = FakeMastodon.Credentials();
            return granted;
        };
        var (publisher, uploadLimits) = Publisher(new UploadLimitsOptions
        {
            ConcurrentUploadsPerAccount = 1,
            Platforms = { [Platforms.Mastodon] = new() { TokenLimit = 1, TokensPerPeriod = 1, ReplenishmentPeriod = TimeSpan.FromHours(1) } },
        });

        var first = publisher.PublishAsync(new TargetDue("post_1", "ws1-1", 1), CancellationToken.None);
        var second = publisher.PublishAsync(new TargetDue("post_2", "ws2-1", 1), CancellationToken.None);

        // Each account has its own slot and its own (single) token: both uploads reach the instance at once.
        await Eventually.Until(() => Task.FromResult((_mastodon.InFlight, uploadLimits.Waiting("acc_ws1"), uploadLimits.Waiting("acc_ws2"))),
            s => s == (2, 0, 0), TimeSpan.FromSeconds(10), "both uploads in flight, none waiting");
        gate.Release(2);
        Assert.All(await Task.WhenAll(first, second), r => Assert.IsType<ConnectorResult.Published>(r));
    }

    [Fact]
    public async Task An_empty_platform_bucket_is_waited_for_rather_than_failed()
    {
        var limits = new UploadLimitsOptions
        {
            Platforms = { [Platforms.Mastodon] = new() { TokenLimit = 1, TokensPerPeriod = 1, ReplenishmentPeriod = TimeSpan.FromMilliseconds(200) } },
        };
        var (publisher, _) = Publisher(limits);

        var results = await Task.WhenAll(Enumerable.Range(0, 3).Select(i => publisher.PublishAsync(new TargetDue("post_1", $"alice-{i}", 1), CancellationToken.None)));

        Assert.All(results, r => Assert.IsType<ConnectorResult.Published>(r));
        Assert.Equal(3, _mastodon.Statuses.Count);
    }

    [Fact]
    public async Task A_limit_that_stays_full_hands_the_target_back_as_retryable_without_sending_anything()
    {
        var limits = new UploadLimitsOptions
        {
            MaxWait = TimeSpan.FromMilliseconds(200),
            Platforms = { [Platforms.Mastodon] = new() { TokenLimit = 1, TokensPerPeriod = 1, ReplenishmentPeriod = TimeSpan.FromHours(1) } },
        };
        var (publisher, _) = Publisher(limits);

        Assert.IsType<ConnectorResult.Published>(await publisher.PublishAsync(new TargetDue("post_1", "alice-1", 1), CancellationToken.None));
        var busy = Assert.IsType<ConnectorResult.Failed>(await publisher.PublishAsync(new TargetDue("post_1", "alice-2", 1), CancellationToken.None));

        Assert.Equal((ConnectorErrors.PublisherBusy, true), (busy.Code, busy.Retryable));
        Assert.Single(_mastodon.Requests);
        var reported = Assert.Single(_scheduling.Targets.Completions, c => c.TargetId == "alice-2").Failed;
        Assert.Equal((ConnectorErrors.PublisherBusy, true), (reported.ErrorCode, reported.Retryable));
    }

    [Fact]
    public async Task Waiting_for_a_slot_spends_at_most_half_of_what_is_left_of_the_lease()
    {
        using var gate = new SemaphoreSlim(0);
        _mastodon.Gate = gate;
        _scheduling.Targets.OnClaim = r =>
        {
            var granted = FakeTargetsService.Granted(r, Platforms.Mastodon, "alice", "Hello");
            granted.Target.CredentialsJson = FakeMastodon.Credentials();
            // The first upload's lease is long (it holds the only slot); the second has two seconds left when it waits.
            var lease = r.TargetId == "alice-1" ? TimeSpan.FromMinutes(1) : TimeSpan.FromSeconds(2);
            granted.Target.LeaseExpiresAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow + lease);
            return granted;
        };
        var (publisher, _) = Publisher(new UploadLimitsOptions { ConcurrentUploadsPerAccount = 1, MaxWait = TimeSpan.FromMinutes(10) });
        var first = publisher.PublishAsync(new TargetDue("post_1", "alice-1", 1), CancellationToken.None);
        await Eventually.Until(() => Task.FromResult(_mastodon.InFlight), n => n == 1, TimeSpan.FromSeconds(10), "the first upload in flight");

        // Not the ten minutes of MaxWait: about half of the two seconds the lease has left.
        var second = await publisher.PublishAsync(new TargetDue("post_1", "alice-2", 1), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(ConnectorErrors.PublisherBusy, Assert.IsType<ConnectorResult.Failed>(second).Code);
        gate.Release();
        Assert.IsType<ConnectorResult.Published>(await first);
    }

    private (TargetPublisher, UploadLimits) Publisher(UploadLimitsOptions limits)
    {
        var connector = new MastodonConnector(new HttpClient(_mastodon.CreateHandler()), Options.Create(new MastodonOptions()), new OutboundPolicy(new OutboundOptions()), TimeProvider.System,
            NullLogger<MastodonConnector>.Instance);
        var uploadLimits = new UploadLimits(Options.Create(limits), TimeProvider.System);
        var client = _scheduling.CreateClient();
        var options = Options.Create(new SchedulingOptions());
        var publisher = new TargetPublisher(client, new TargetsBatcher(client, options, TimeProvider.System), new ConnectorRegistry([connector]), uploadLimits,
            options, Options.Create(limits), TimeProvider.System, NullLogger<TargetPublisher>.Instance);
        return (publisher, uploadLimits);
    }
}
