using System.Collections.Concurrent;
using System.Net;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ScheduledPosts.Contracts.Scheduling.V1;

namespace ScheduledPosts.Client.Tests;

/// <summary>
/// A stand-in for the gateway's gRPC port on a free loopback port (h2c, like the real one): its <c>Posts.GetPost</c>
/// answers the failures queued in <see cref="FakePosts.Failures"/> first, then the post, and records every attempt.
/// </summary>
public sealed class FakeGateway : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeGateway(WebApplication app, Uri address, FakePosts posts) => (_app, Address, Posts) = (app, address, posts);

    public Uri Address { get; }
    public FakePosts Posts { get; }

    public static async Task<FakeGateway> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        var posts = new FakePosts();
        builder.Services.AddSingleton(posts);
        var app = builder.Build();
        app.MapGrpcService<FakePosts>();
        await app.StartAsync();
        string bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new FakeGateway(app, new Uri(bound), posts);
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}

/// <summary>One attempt as the server saw it.</summary>
public sealed record Attempt(string? Authorization, DateTime Deadline, string? IdempotencyKey = null);

public sealed class FakePosts : Posts.PostsBase
{
    public ConcurrentQueue<StatusCode> Failures { get; } = new();
    public ConcurrentQueue<Attempt> Attempts { get; } = new();

    public override Task<Post> GetPost(GetPostRequest request, ServerCallContext context)
    {
        Attempts.Enqueue(new Attempt(context.RequestHeaders.GetValue("authorization"), context.Deadline));
        if (Failures.TryDequeue(out var code))
        {
            throw new RpcException(new Status(code, $"fake {code}"));
        }

        return Task.FromResult(new Post { Id = request.PostId, Status = PostStatus.Scheduled });
    }

    public override Task<Post> CreatePost(CreatePostRequest request, ServerCallContext context)
    {
        Attempts.Enqueue(new Attempt(context.RequestHeaders.GetValue("authorization"), context.Deadline, context.RequestHeaders.GetValue("idempotency-key")));
        if (Failures.TryDequeue(out var code))
        {
            throw new RpcException(new Status(code, $"fake {code}"));
        }

        return Task.FromResult(new Post { Id = "post_new", Caption = request.Caption, Status = PostStatus.Scheduled });
    }
}
