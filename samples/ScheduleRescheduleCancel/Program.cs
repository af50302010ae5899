// Schedules a post for a sandbox account through the gateway's gRPC port, moves it, and cancels it, with the .NET
// client library. Run it next to ./run.sh:
//   SCHEDULEDPOSTS_API_KEY=<the key run.sh printed> dotnet run --project samples/ScheduleRescheduleCancel
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using ScheduledPosts.Contracts.Scheduling.V1;

string address = Environment.GetEnvironmentVariable("SCHEDULEDPOSTS_GRPC_ADDRESS") is { Length: > 0 } set ? set : "http://localhost:8081";
string? apiKey = Environment.GetEnvironmentVariable("SCHEDULEDPOSTS_API_KEY");
if (string.IsNullOrEmpty(apiKey))
{
    Console.Error.WriteLine("Set SCHEDULEDPOSTS_API_KEY to an API key of the workspace (./run.sh prints one).");
    return 2;
}

var services = new ServiceCollection();
services.AddScheduledPostsClient(options =>
{
    options.Address = new Uri(address);
    options.ApiKey = apiKey;
});
await using var provider = services.BuildServiceProvider();
var accounts = provider.GetRequiredService<SocialAccounts.SocialAccountsClient>();
var posts = provider.GetRequiredService<Posts.PostsClient>();

try
{
    var account = await accounts.CreateSocialAccountAsync(new CreateSocialAccountRequest { Platform = "sandbox", Handle = "dotnet-sample" });
    Console.WriteLine($"connected    {account.Id} ({account.Platform}, @{account.Handle})");

    var scheduled = await posts.CreatePostAsync(new CreatePostRequest
    {
        Caption = "Hello from the .NET sample",
        Targets = { new TargetSpec { SocialAccountId = account.Id } },
        ScheduledFor = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddMinutes(10)),
    });
    Print("scheduled", scheduled, scheduled.ScheduledFor);

    // Every change names the etag it saw: if the post changed since, the call fails ABORTED instead.
    var rescheduled = await posts.ReschedulePostAsync(new ReschedulePostRequest
    {
        PostId = scheduled.Id,
        ScheduledFor = Timestamp.FromDateTimeOffset(scheduled.ScheduledFor.ToDateTimeOffset().AddMinutes(5)),
        Etag = scheduled.Etag,
    });
    Print("rescheduled", rescheduled, rescheduled.ScheduledFor);

    var cancelled = await posts.CancelPostAsync(new CancelPostRequest { PostId = scheduled.Id, Reason = "changed our mind", Etag = rescheduled.Etag });
    Print("cancelled", cancelled, cancelled.CancelTime);
    return 0;
}
catch (RpcException error)
{
    // The reason is the REST API's error code (VALIDATION, CONFLICT, CANCEL_WINDOW_CLOSED, ...).
    var info = error.GetRpcStatus()?.GetDetail<ErrorInfo>();
    Console.Error.WriteLine($"failed: {error.StatusCode} {info?.Reason} {error.Status.Detail}");
    return 1;
}

static void Print(string step, Post post, Timestamp time)
    => Console.WriteLine($"{step,-12} {post.Id}  {post.Status,-9}  {time.ToDateTimeOffset():yyyy-MM-dd HH:mm:ss}Z");
