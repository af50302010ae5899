using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Testing;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// docs/publishing.md#fair-shares: the dispatcher keeps each workspace's targets in flight under its share, so a
/// backlog stays in the database instead of the bus queue, where another workspace's due post would wait behind it.
/// Nothing claims the messages here unless the test does, as if the publishers were busy.
/// </summary>
public sealed class FairDispatchTests(FairDispatchTests.SmallShareFactory factory) : IClassFixture<FairDispatchTests.SmallShareFactory>
{
    private const int Share = 5;

    public sealed class SmallShareFactory : SchedulingFactory
    {
        protected override void Configure(Dictionary<string, string> settings) => settings["Dispatcher:InFlightPerWorkspace"] = $"{Share}";
    }

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_workspace_with_a_backlog_has_only_its_share_in_flight_and_another_workspaces_post_goes_out_on_time()
    {
        var noisy = factory.Client($"ws_noisy_{Guid.NewGuid():N}");
        string noisyAccount = await ConnectAccountAsync(noisy, "noisy");
        var backlogDue = DateTimeOffset.UtcNow.AddSeconds(1);
        var backlog = await Task.WhenAll(Enumerable.Range(0, 30).Select(i => CreatePostAsync(noisy, [noisyAccount], backlogDue, $"Backlog {i}")));
        var backlogPosts = backlog.Select(p => p["id"]!.GetValue<string>()).ToHashSet();

        var quiet = factory.Client($"ws_quiet_{Guid.NewGuid():N}");
        string quietAccount = await ConnectAccountAsync(quiet, "quiet");
        var quietPost = (await CreatePostAsync(quiet, [quietAccount], backlogDue.AddSeconds(1)))["id"]!.GetValue<string>();

        // Due a second after the backlog, the quiet workspace's post is sent at its time all the same.
        await Eventually.Until(() => Task.FromResult(factory.Due.Any(d => d.Message.PostId == quietPost)), sent => sent, Patience, "the quiet workspace's post");
        var sent = factory.Due.Where(d => backlogPosts.Contains(d.Message.PostId)).Select(d => d.Message).ToList();
        Assert.Equal(Share, sent.Count);

        // A claimed target is still in flight (publishing); once it is published its place goes to the next one.
        var targets = factory.TargetsClient();
        var first = sent[0];
        var claim = await targets.ClaimTargetAsync(new ClaimTargetRequest { PostId = first.PostId, TargetId = first.TargetId, ScheduleVersion = first.ScheduleVersion });
        Assert.True(claim.Claimed, claim.Reason);
        await targets.CompleteTargetAsync(new CompleteTargetRequest
        {
            TargetId = first.TargetId,
            LeaseToken = claim.Target.LeaseToken,
            Published = new TargetPublished { ExternalPostId = "ext_1", ExternalUrl = "https://example.test/ext_1" },
        });

        await Eventually.Until(() => Task.FromResult(factory.Due.Count(d => backlogPosts.Contains(d.Message.PostId))), n => n >= Share + 1,
            Patience, "the next target of the backlog");
        Assert.Equal(Share + 1, factory.Due.Count(d => backlogPosts.Contains(d.Message.PostId)));

        // The workspace's events are no part of its share: the published post's event goes out while the rest of the
        // backlog is still held back.
        await Eventually.Until(() => Task.FromResult(factory.Events.Any(e => e.Type == "post.published" && e.PostId == first.PostId)), sent => sent,
            Patience, "the published backlog post's post.published");
        Assert.Equal(Share + 1, factory.Due.Count(d => backlogPosts.Contains(d.Message.PostId)));
    }
}

/// <summary>
/// A backlog held back for its workspace's share makes the dispatcher look again only every
/// <c>Dispatcher:FairShareRecheck</c> (an hour here, so waiting for it would show): posts of other workspaces that
/// fall due meanwhile, some during a pass, must not wait for that.
/// </summary>
public sealed class HeldBacklogTests(HeldBacklogTests.HourlyRecheckFactory factory) : IClassFixture<HeldBacklogTests.HourlyRecheckFactory>
{
    private const int Share = 2;

    public sealed class HourlyRecheckFactory : SchedulingFactory
    {
        protected override void Configure(Dictionary<string, string> settings)
        {
            settings["Dispatcher:InFlightPerWorkspace"] = $"{Share}";
            settings["Dispatcher:FairShareRecheck"] = "01:00:00";
        }
    }

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Posts_falling_due_beside_a_backlog_held_for_its_share_go_out_at_their_time_not_at_the_next_recheck()
    {
        var noisy = factory.Client($"ws_noisy_{Guid.NewGuid():N}");
        string noisyAccount = await ConnectAccountAsync(noisy, "noisy");
        var backlogDue = DateTimeOffset.UtcNow.AddSeconds(1);
        var backlog = (await Task.WhenAll(Enumerable.Range(0, 3 * Share).Select(i => CreatePostAsync(noisy, [noisyAccount], backlogDue, $"Backlog {i}"))))
            .Select(p => p["id"]!.GetValue<string>()).ToHashSet();

        // One post in each of a dozen workspaces (each far under its share), due 1–8 ms apart after the backlog: often
        // one falls due while the dispatcher is sending the one before.
        var due = backlogDue.AddSeconds(3);
        var quiet = new List<string>();
        for (int i = 0; i < 12; i++)
        {
            var client = factory.Client($"ws_quiet_{Guid.NewGuid():N}");
            due = due.AddTicks(Random.Shared.Next(10_000, 80_000));
            quiet.Add((await CreatePostAsync(client, [await ConnectAccountAsync(client, "quiet")], due))["id"]!.GetValue<string>());
        }

        await Eventually.Until(() => Task.FromResult(quiet.Count(id => factory.Due.Any(d => d.Message.PostId == id))),
            sent => sent == quiet.Count, Patience, "every quiet workspace's post");
        // Nothing claims here, so the backlog is still held back to its share.
        Assert.Equal(Share, factory.Due.Count(d => backlog.Contains(d.Message.PostId)));
    }
}
