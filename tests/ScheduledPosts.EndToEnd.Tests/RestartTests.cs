using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>Nothing committed is lost when the scheduling service dies between scheduling and the due time.</summary>
public sealed class RestartTests(Stack stack) : IClassFixture<Stack>
{
    [Fact]
    public async Task Killing_the_scheduling_service_before_the_due_time_loses_nothing()
    {
        string account = await stack.ConnectSandboxAccountAsync("carol");
        string caption = $"Survives a crash {Guid.NewGuid()}";
        var due = DateTimeOffset.UtcNow.AddSeconds(12);
        string postId = (await stack.CreatePostAsync(caption, account, due))["id"]!.GetValue<string>();

        await stack["scheduling"].KillAsync();
        Assert.True(DateTimeOffset.UtcNow < due, "the service must die before the post is due for this test to mean anything");
        await stack["scheduling"].StartAsync();

        var post = await Eventually.Until(() => stack.GetPostAsync(postId),
            p => p["status"]!.GetValue<string>() == "published", TimeSpan.FromSeconds(30), "the post to be published after the restart");
        Assert.Single(await stack.SandboxStatusesAsync(), s => s.Status == caption);
        Assert.NotNull(post["targets"]![0]!["externalPostId"]);
    }
}
