using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// Issue 13: the .NET client library (<c>clients/ScheduledPosts.Client</c>) as a service uses it — one
/// <c>AddScheduledPostsClient</c> call, then typed clients — against the gateway's gRPC port of the real processes; and
/// its sample program (<c>samples/ScheduleRescheduleCancel</c>) run as a process, so the output the README shows cannot
/// rot silently.
/// </summary>
public sealed class GrpcClientLibraryTests(Stack stack) : IClassFixture<Stack>
{
    [Fact]
    public async Task A_service_schedules_reschedules_and_cancels_a_post_and_rest_shows_the_same()
    {
        await using var provider = Client(Stack.BootstrapKey);
        var posts = provider.GetRequiredService<Posts.PostsClient>();
        var account = await provider.GetRequiredService<SocialAccounts.SocialAccountsClient>()
            .CreateSocialAccountAsync(new CreateSocialAccountRequest { Platform = "sandbox", Handle = "dotnet" });
        var inAnHour = DateTimeOffset.UtcNow.AddHours(1);

        var created = await posts.CreatePostAsync(new CreatePostRequest
        {
            Caption = "From .NET",
            Targets = { new TargetSpec { SocialAccountId = account.Id } },
            ScheduledFor = Timestamp.FromDateTimeOffset(inAnHour),
        });
        var moved = await posts.ReschedulePostAsync(new ReschedulePostRequest
        {
            PostId = created.Id, ScheduledFor = Timestamp.FromDateTimeOffset(inAnHour.AddHours(1)), Etag = created.Etag,
        });
        var cancelled = await posts.CancelPostAsync(new CancelPostRequest { PostId = created.Id, Reason = "from .NET", Etag = moved.Etag });

        Assert.Equal(PostStatus.Scheduled, created.Status);
        Assert.Equal(TargetStatus.Scheduled, Assert.Single(created.Targets).Status);
        Assert.Equal(PostStatus.Scheduled, moved.Status);
        Assert.Equal(2, moved.ScheduleVersion);
        Assert.Equal(inAnHour.AddHours(1).ToUnixTimeSeconds(), moved.ScheduledFor.Seconds);
        Assert.Equal(PostStatus.Cancelled, cancelled.Status);
        Assert.Equal(TargetStatus.Cancelled, Assert.Single(cancelled.Targets).Status);
        var overRest = await stack.GetPostAsync(created.Id);
        Assert.Equal("cancelled", overRest["status"]!.GetValue<string>());
        Assert.Equal("from .NET", overRest["cancelReason"]!.GetValue<string>());
    }

    [Fact]
    public async Task An_unknown_post_is_not_found_with_its_error_info()
    {
        await using var provider = Client(Stack.BootstrapKey);

        var error = await Assert.ThrowsAsync<RpcException>(() => provider.GetRequiredService<Posts.PostsClient>()
            .GetPostAsync(new GetPostRequest { PostId = "post_01JZZZZZZZZZZZZZZZZZZZZZZZ" }).ResponseAsync);

        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        var info = error.GetRpcStatus()?.GetDetail<ErrorInfo>();
        Assert.NotNull(info);
        Assert.Equal("NOT_FOUND", info.Reason);
        Assert.Equal("scheduledposts", info.Domain);
    }

    [Fact]
    public async Task A_wrong_key_is_unauthenticated()
    {
        await using var provider = Client("sp_not_a_key_of_any_workspace_0123456789");

        var error = await Assert.ThrowsAsync<RpcException>(() => provider.GetRequiredService<Posts.PostsClient>()
            .ListPostsAsync(new ListPostsRequest()).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        Assert.Equal("UNAUTHENTICATED", error.GetRpcStatus()?.GetDetail<ErrorInfo>()?.Reason);
    }

    [Fact]
    public async Task The_sample_program_runs_against_the_gateway_and_prints_what_the_readme_shows()
    {
        // .../tests/ScheduledPosts.EndToEnd.Tests/bin/<Configuration>/net10.0/: the sample is built alongside.
        string configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Parent!.Name;
        string folder = Path.Combine(Suite.RepoRoot, "samples", "ScheduleRescheduleCancel", "bin", configuration, "net10.0");

        var (exitCode, output, errors) = await Processes.RunAsync("dotnet", ["ScheduleRescheduleCancel.dll"], folder, new Dictionary<string, string>
        {
            ["SCHEDULEDPOSTS_GRPC_ADDRESS"] = stack.GatewayGrpcUrl.ToString(),
            ["SCHEDULEDPOSTS_API_KEY"] = Stack.BootstrapKey,
        });

        Assert.True(exitCode == 0, $"the sample failed ({exitCode}):\n{output}\n{errors}\n{stack.Logs}");
        // connected    acc_…  (sandbox, @dotnet-sample)
        // scheduled    post_…  Scheduled  2026-12-03 09:40:00Z
        var lines = output.Trim().Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.Equal(["connected", "scheduled", "rescheduled", "cancelled"], lines.Select(l => l[0]));
        Assert.Equal(["Scheduled", "Scheduled", "Cancelled"], lines.Skip(1).Select(l => l[2]));
        string postId = lines[1][1];
        Assert.All(lines.Skip(1), l => Assert.Equal(postId, l[1]));
        var times = lines.Skip(1).Select(l => DateTimeOffset.Parse($"{l[3]} {l[4]}", System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(TimeSpan.FromMinutes(5), times[1] - times[0]);
        var overRest = await stack.GetPostAsync(postId);
        Assert.Equal("cancelled", overRest["status"]!.GetValue<string>());
        Assert.Equal(2, overRest["scheduleVersion"]!.GetValue<long>());
    }

    private ServiceProvider Client(string apiKey)
    {
        var services = new ServiceCollection();
        services.AddScheduledPostsClient(options =>
        {
            options.Address = stack.GatewayGrpcUrl;
            options.ApiKey = apiKey;
        });
        return services.BuildServiceProvider();
    }
}
