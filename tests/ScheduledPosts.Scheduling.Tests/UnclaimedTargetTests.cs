using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Testing;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// A due message that never leads to a claim (the publisher gave it up after its retries, or it was lost) does not strand
/// its target: the target is sent again (docs/publishing.md#lost-messages).
/// </summary>
public sealed class UnclaimedTargetTests(UnclaimedTargetTests.QuickResendFactory factory) : IClassFixture<UnclaimedTargetTests.QuickResendFactory>
{
    public sealed class QuickResendFactory : SchedulingFactory
    {
        protected override void Configure(Dictionary<string, string> settings)
            => settings["Publishing:ResendUnclaimedAfter"] = "00:00:01";
    }

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_due_target_whose_message_was_given_up_is_sent_again_and_published_once()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string account = await ConnectAccountAsync(client, "acct");
        var post = await CreatePostAsync(client, [account], DateTimeOffset.UtcNow);
        string postId = post["id"]!.GetValue<string>();
        string targetId = post["targets"]![0]!["id"]!.GetValue<string>();

        // Nobody claims the first message (this probe only records it), as when the publisher gave it up.
        var due = await Eventually.Until(
            () => Task.FromResult(factory.Due.Where(d => d.Message.TargetId == targetId).ToList()),
            d => d.Count >= 2, Patience, "the target's message to be sent again");
        Assert.True(due[1].ReceivedAt - due[0].ReceivedAt >= TimeSpan.FromSeconds(1), "sent again before it had waited");
        Assert.Equal(due[0].Message, due[1].Message);

        var targets = factory.TargetsClient();
        var claim = await targets.ClaimTargetAsync(new ClaimTargetRequest { PostId = postId, TargetId = targetId, ScheduleVersion = due[1].Message.ScheduleVersion });
        Assert.True(claim.Claimed, claim.Reason);
        Assert.Equal(1, claim.Target.Attempt); // the lost message spent no attempt
        var done = await targets.CompleteTargetAsync(new CompleteTargetRequest
        {
            TargetId = targetId,
            LeaseToken = claim.Target.LeaseToken,
            Published = new TargetPublished { ExternalPostId = "ext_resent" },
        });
        Assert.Equal("published", done.TargetStatus);

        // Any copy still on its way finds nothing to claim.
        var copy = await targets.ClaimTargetAsync(new ClaimTargetRequest { PostId = postId, TargetId = targetId, ScheduleVersion = due[1].Message.ScheduleVersion });
        Assert.False(copy.Claimed);
    }
}
