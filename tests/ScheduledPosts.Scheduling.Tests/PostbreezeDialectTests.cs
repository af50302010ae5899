using System.Net;
using ScheduledPosts.Contracts.Scheduling.V1;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>Postbreeze's cancel of a post partly out, as its page describes it, with the publisher played through its gRPC API.</summary>
public sealed class PostbreezeDialectTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    [Fact]
    public async Task Cancel_leaves_an_account_already_published_alone_and_cancels_the_post_and_the_others()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string alice = await ConnectAccountAsync(client), bob = await ConnectAccountAsync(client, "bob");
        var post = await CreatePostAsync(client, [alice, bob], DateTimeOffset.UtcNow);
        string postId = post["id"]!.GetValue<string>(), published = post["targets"]![0]!["id"]!.GetValue<string>();
        var targets = factory.TargetsClient();
        var claim = await targets.ClaimTargetAsync(new ClaimTargetRequest { PostId = postId, TargetId = published, ScheduleVersion = 1 });
        Assert.True(claim.Claimed, claim.Reason);
        await targets.CompleteTargetAsync(new CompleteTargetRequest { TargetId = published, LeaseToken = claim.Target.LeaseToken, Published = new TargetPublished { ExternalPostId = "1" } });

        var (status, canceled) = await SendAsync(client, HttpMethod.Post, $"/postbreeze/api/v1/posts/{postId}/cancel");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("CANCELED", Status(canceled));
        var byTarget = canceled["targets"]!.AsArray().ToDictionary(t => t!["id"]!.GetValue<string>(), t => t!["status"]!.GetValue<string>());
        Assert.Equal("PUBLISHED", byTarget[published]);
        Assert.Equal("CANCELED", Assert.Single(byTarget, t => t.Key != published).Value);
        Assert.Equal("1", canceled["targets"]!.AsArray().Single(t => t!["id"]!.GetValue<string>() == published)!["externalPostId"]!.GetValue<string>());
    }

    /// <summary>
    /// Each post status of ours is one of Postbreeze's; each target status too, but for <c>UNPUBLISHED</c> (a copy removed
    /// since, which Postbreeze cannot do: docs/migrating-postbreeze.md).
    /// </summary>
    [Fact]
    public void Every_status_of_ours_is_in_Postbreezes_enums()
    {
        string[] postEnum = ["DRAFT", "NEEDS_APPROVAL", "SCHEDULED", "PUBLISHING", "PARTIALLY_PUBLISHED", "PUBLISHED", "FAILED", "CANCELED"];
        string[] targetEnum = ["DRAFT", "SCHEDULED", "PUBLISHING", "PUBLISHED", "FAILED", "SKIPPED", "CANCELED", "UNPUBLISHED"];

        Assert.All(Constants(typeof(Posts.PostStatus)), s => Assert.Contains(Dialects.Postbreeze.PostbreezePost.Upper(s), postEnum));
        Assert.All(Constants(typeof(Posts.TargetStatus)), s => Assert.Contains(Dialects.Postbreeze.PostbreezePost.Upper(s), targetEnum));
    }
}
