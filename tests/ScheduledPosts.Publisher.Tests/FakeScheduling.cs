using System.Collections.Concurrent;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using System.Net;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Publisher.Publishing;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>
/// The scheduling service's <c>Targets</c> gRPC API as the publisher sees it, served in memory: it answers claims as
/// the test scripts, records every call, and refuses callers without a valid internal identity, as the real one does.
/// </summary>
public sealed class FakeScheduling : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeScheduling(WebApplication app, FakeTargetsService targets)
    {
        _app = app;
        Targets = targets;
    }

    public FakeTargetsService Targets { get; }

    /// <summary>Checks tokens as the scheduling service does: for it, from the publisher's key (the tests' pair).</summary>
    public static InternalTokenValidator NewValidator() => new(Extensions.SchedulingAudience,
        new Dictionary<string, string> { [InternalIssuers.Publisher] = InternalKeys.Publisher.PublicPem }, TimeSpan.FromSeconds(5), TimeProvider.System);

    /// <summary>Served in memory, unless <paramref name="overSockets"/>: then over h2c on a loopback port (<see cref="Url"/>).</summary>
    public static async Task<FakeScheduling> StartAsync(bool overSockets = false)
    {
        var builder = WebApplication.CreateSlimBuilder();
        if (overSockets)
        {
            // Only the port chosen here: the test output's appsettings.json (the sandbox's) names an endpoint of its own.
            builder.Configuration.Sources.Clear();
            builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        }
        else
        {
            builder.WebHost.UseTestServer();
        }

        builder.Services.AddGrpc();
        var targets = new FakeTargetsService(NewValidator());
        builder.Services.AddSingleton(targets);
        var app = builder.Build();
        app.MapGrpcService<FakeTargetsService>();
        await app.StartAsync();
        return new FakeScheduling(app, targets);
    }

    /// <summary>Where a fake started over sockets listens.</summary>
    public string Url => _app.Urls.Single();

    public HttpMessageHandler CreateHandler() => _app.GetTestServer().CreateHandler();

    /// <summary>A client wired like the publisher's: it stamps the publisher's identity on every call.</summary>
    public Targets.TargetsClient CreateClient()
    {
        var handler = new InternalIdentityHandler(InternalKeys.PublisherIssuer, Extensions.Identity, Extensions.SchedulingAudience) { InnerHandler = CreateHandler() };
        return new Targets.TargetsClient(GrpcChannel.ForAddress("http://scheduling.test", new GrpcChannelOptions { HttpHandler = handler }));
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}

public sealed class FakeTargetsService(InternalTokenValidator validator) : Targets.TargetsBase
{
    private int _completeFaults;

    /// <summary>How a claim is answered; by default nothing is claimable.</summary>
    public Func<ClaimTargetRequest, ClaimTargetResponse> OnClaim { get; set; } = _ => new ClaimTargetResponse { Claimed = false, Reason = "not_found" };

    public ConcurrentQueue<ClaimTargetRequest> Claims { get; } = new();
    public ConcurrentQueue<CompleteTargetRequest> Completions { get; } = new();
    public ConcurrentQueue<InternalIdentity> Callers { get; } = new();

    /// <summary>The files ReadMedia serves, by media id, to the holder of the lease <see cref="Granted"/> hands out.</summary>
    public ConcurrentDictionary<string, byte[]> MediaFiles { get; } = new();

    public ConcurrentQueue<ReadMediaRequest> MediaReads { get; } = new();

    /// <summary>ReadMedia breaks off after its first chunk, as when the scheduling service goes away mid-file.</summary>
    public bool BreakMediaAfterFirstChunk { get; set; }

    /// <summary>The next <paramref name="count"/> CompleteTarget(s) calls fail as if the service were down.</summary>
    public void FailNextCompletions(int count) => _completeFaults = count;

    public override Task<ClaimTargetResponse> ClaimTarget(ClaimTargetRequest request, ServerCallContext context)
    {
        Authenticate(context);
        SingleCalls.Enqueue(("ClaimTarget", request.TargetId));
        return Task.FromResult(Claim(request));
    }

    /// <summary>
    /// Targets whose post is another transaction's whenever a batch call names them: their claims and reports in
    /// ClaimTargets and CompleteTargets are answered post_busy (nothing recorded), as the real service answers them.
    /// </summary>
    public Func<string, bool> BusyInBatches { get; set; } = _ => false;

    /// <summary>The one-target calls (ClaimTarget, CompleteTarget) made, with the target each named.</summary>
    public ConcurrentQueue<(string Call, string TargetId)> SingleCalls { get; } = new();

    /// <summary>How many ClaimTargets calls carried each number of claims.</summary>
    public ConcurrentQueue<int> ClaimCallSizes { get; } = new();

    /// <summary>Each claim of the call answered as <see cref="ClaimTarget"/> answers it, in order.</summary>
    public override Task<ClaimTargetsResponse> ClaimTargets(ClaimTargetsRequest request, ServerCallContext context)
    {
        Authenticate(context);
        ClaimCallSizes.Enqueue(request.Claims.Count);
        return Task.FromResult(new ClaimTargetsResponse
        {
            Results = { request.Claims.Select(c => BusyInBatches(c.TargetId) ? new ClaimTargetResponse { Claimed = false, Reason = "post_busy" } : Claim(c)) },
        });
    }

    private ClaimTargetResponse Claim(ClaimTargetRequest request)
    {
        // The publisher's probe at start names a target that does not exist, as the real service would answer it; the
        // tests see only the claims of their own messages.
        if (request.TargetId == ClaimPathWarmup.Probe.TargetId)
        {
            return new ClaimTargetResponse { Claimed = false, Reason = "not_found" };
        }

        Claims.Enqueue(request);
        return OnClaim(request);
    }

    public override async Task<CompleteTargetResponse> CompleteTarget(CompleteTargetRequest request, ServerCallContext context)
    {
        Authenticate(context);
        FailIfAsked();
        await BeforeCompleting();
        SingleCalls.Enqueue(("CompleteTarget", request.TargetId));
        return Complete(request);
    }

    /// <summary>Each report of the call recorded and answered as <see cref="CompleteTarget"/> answers it; a fault fails the whole call.</summary>
    public override async Task<CompleteTargetsResponse> CompleteTargets(CompleteTargetsRequest request, ServerCallContext context)
    {
        Authenticate(context);
        FailIfAsked();
        await BeforeCompleting();
        return new CompleteTargetsResponse
        {
            Results =
            {
                request.Reports.Select(r => BusyInBatches(r.TargetId)
                    ? new CompleteTargetsResult { ErrorCode = "POST_BUSY", ErrorMessage = "its post is busy" }
                    : new CompleteTargetsResult { Completed = Complete(r) }),
            },
        };
    }

    private void FailIfAsked()
    {
        if (Interlocked.Decrement(ref _completeFaults) >= 0)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "scheduling is restarting"));
        }
    }

    private CompleteTargetResponse Complete(CompleteTargetRequest request)
    {
        Completions.Enqueue(request);
        string status = request.OutcomeCase == CompleteTargetRequest.OutcomeOneofCase.Published ? "published" : "failed";
        return new CompleteTargetResponse { TargetStatus = status, PostStatus = status };
    }

    /// <summary>Awaited before a report is applied: a scheduling service slow to take reports.</summary>
    public Func<Task> BeforeCompleting { get; set; } = () => Task.CompletedTask;

    /// <summary>How a removal's claim (unpublish) is answered; by default nothing is claimable.</summary>
    public Func<ClaimUnpublishRequest, ClaimUnpublishResponse> OnClaimUnpublish { get; set; } =
        _ => new ClaimUnpublishResponse { Claimed = false, Reason = "not_found" };

    public ConcurrentQueue<CompleteUnpublishRequest> UnpublishCompletions { get; } = new();

    public override Task<ClaimUnpublishResponse> ClaimUnpublish(ClaimUnpublishRequest request, ServerCallContext context)
    {
        Authenticate(context);
        return Task.FromResult(OnClaimUnpublish(request));
    }

    public override Task<CompleteUnpublishResponse> CompleteUnpublish(CompleteUnpublishRequest request, ServerCallContext context)
    {
        Authenticate(context);
        UnpublishCompletions.Enqueue(request);
        return Task.FromResult(new CompleteUnpublishResponse { TargetStatus = request.Failed is null ? "unpublished" : "published" });
    }

    /// <summary>A removal of a target of <paramref name="request"/>, as the scheduling service would grant it, with a lease of <paramref name="lease"/>.</summary>
    public static ClaimUnpublishResponse GrantedRemoval(ClaimUnpublishRequest request, string platform, string handle, TimeSpan lease) => new()
    {
        Claimed = true,
        Removal = new UnpublishClaim
        {
            PostId = request.PostId,
            TargetId = request.TargetId,
            Platform = platform,
            AccountId = $"acc_{handle}",
            AccountHandle = handle,
            ExternalPostId = $"ext_{request.TargetId}",
            LeaseToken = $"lease_{request.TargetId}",
            LeaseExpiresAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow + lease),
            Attempt = 1,
        },
    };

    public ConcurrentQueue<RenewLeaseRequest> Renewals { get; } = new();

    /// <summary>How a renewal is answered; by default the lease is extended by a second.</summary>
    public Func<RenewLeaseRequest, RenewLeaseResponse> OnRenew { get; set; } =
        _ => new RenewLeaseResponse { LeaseExpiresAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddSeconds(1)) };

    public override Task<RenewLeaseResponse> RenewLease(RenewLeaseRequest request, ServerCallContext context)
    {
        Authenticate(context);
        Renewals.Enqueue(request);
        return Task.FromResult(OnRenew(request));
    }

    public override async Task ReadMedia(ReadMediaRequest request, IServerStreamWriter<MediaChunk> responseStream, ServerCallContext context)
    {
        Authenticate(context);
        MediaReads.Enqueue(request);
        if (request.LeaseToken != $"lease_{request.TargetId}")
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, "not the lease holder"));
        }

        if (!MediaFiles.TryGetValue(request.MediaId, out var content))
        {
            throw new RpcException(new Status(StatusCode.NotFound, "no such media"));
        }

        // Small chunks, so a file takes many messages, as a large one would.
        foreach (var chunk in content.Chunk(1000))
        {
            await responseStream.WriteAsync(new MediaChunk { Data = ByteString.CopyFrom(chunk) }, context.CancellationToken);
            if (BreakMediaAfterFirstChunk)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, "scheduling is restarting"));
            }
        }
    }

    private void Authenticate(ServerCallContext context)
    {
        var http = context.GetHttpContext();
        var identity = validator.Validate(context.RequestHeaders.GetValue("x-sp-identity"), http.Request.Method, http.Request.Path.Value!, out _)?.Identity;
        if (identity is null || !identity.HasScope(InternalScopes.Targets))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "no internal identity"));
        }

        Callers.Enqueue(identity);
    }

    /// <summary>A claim of a target of <paramref name="request"/>, as the scheduling service would grant it.</summary>
    public static ClaimTargetResponse Granted(ClaimTargetRequest request, string platform, string handle, string text) => new()
    {
        Claimed = true,
        Target = new ClaimedTarget
        {
            PostId = request.PostId,
            TargetId = request.TargetId,
            WorkspaceId = "ws_test",
            Platform = platform,
            AccountId = $"acc_{handle}",
            AccountHandle = handle,
            Text = text,
            IdempotencyKey = $"{request.TargetId}:publish",
            LeaseToken = $"lease_{request.TargetId}",
            Attempt = 1,
        },
    };
}
