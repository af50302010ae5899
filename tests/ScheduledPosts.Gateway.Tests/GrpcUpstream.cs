using System.Collections.Concurrent;
using System.Net;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ScheduledPosts.Contracts.Scheduling.V1;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>
/// A stand-in for the scheduling service's gRPC port: real Kestrel, HTTP/2 without TLS, serving <c>Posts.GetPost</c>
/// and <c>Targets</c> (as the real port does), recording the metadata of every call it receives.
/// </summary>
public sealed class GrpcUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;

    private GrpcUpstream(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    public Uri Address { get; }

    /// <summary>The method, metadata and post id of each call received (shared by every instance: tests tell theirs apart by post id).</summary>
    public static ConcurrentQueue<(string Method, Metadata Headers, string PostId)> Received { get; } = new();

    public static async Task<GrpcUpstream> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        var app = builder.Build();
        app.MapGrpcService<FakePosts>();
        app.MapGrpcService<FakeTargets>();
        app.MapGrpcService<FakeMedia>();
        app.MapGrpcService<FakeSettings>();
        await app.StartAsync();
        return new GrpcUpstream(app, new Uri(app.Urls.Single()));
    }

    private sealed class FakePosts : Posts.PostsBase
    {
        public override Task<Post> GetPost(GetPostRequest request, ServerCallContext context)
        {
            Received.Enqueue((context.Method, context.RequestHeaders, request.PostId));
            return Task.FromResult(new Post { Id = request.PostId, Status = PostStatus.Scheduled });
        }
    }

    /// <summary>Counts an upload's bytes: the file name stands in for the post id in <see cref="Received"/>.</summary>
    private sealed class FakeMedia : Media.MediaBase
    {
        public override async Task<MediaItem> UploadMedia(IAsyncStreamReader<UploadMediaRequest> requestStream, ServerCallContext context)
        {
            string fileName = "";
            long size = 0;
            await foreach (var message in requestStream.ReadAllAsync(context.CancellationToken))
            {
                fileName = message.Metadata?.FileName is { Length: > 0 } name ? name : fileName;
                size += message.Chunk.Length;
            }

            Received.Enqueue((context.Method, context.RequestHeaders, fileName));
            return new MediaItem { Id = "med_fake", FileName = fileName, SizeBytes = size };
        }
    }

    /// <summary>Echoes the update: its publish lead stands in for the post id in <see cref="Received"/>.</summary>
    private sealed class FakeSettings : Settings.SettingsBase
    {
        public override Task<SchedulingSettings> UpdateSchedulingSettings(UpdateSchedulingSettingsRequest request, ServerCallContext context)
        {
            Received.Enqueue((context.Method, context.RequestHeaders, $"lead-{request.Settings.PublishLeadSeconds}"));
            return Task.FromResult(request.Settings);
        }
    }

    private sealed class FakeTargets : Targets.TargetsBase
    {
        public override Task<ClaimTargetResponse> ClaimTarget(ClaimTargetRequest request, ServerCallContext context)
        {
            Received.Enqueue((context.Method, context.RequestHeaders, request.PostId));
            return Task.FromResult(new ClaimTargetResponse { Claimed = true });
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
