using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.ExceptionServices;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using ScheduledPosts.Testing.FakePlatforms;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>A request the fake received, as the connector sent it.</summary>
public sealed record MastodonRequest(string Method, string Path, string? Authorization, string? IdempotencyKey, Dictionary<string, string[]> Form,
    IReadOnlyList<(string Name, string FileName, string ContentType, long Length)> Files);

/// <summary>
/// A Mastodon instance as its documentation describes it, served in memory, for the Mastodon connector's tests:
/// <list type="bullet">
/// <item>https://docs.joinmastodon.org/methods/statuses/#create — <c>POST /api/v1/statuses</c> with form fields
/// <c>status</c>, <c>media_ids[]</c>, <c>in_reply_to_id</c>, headers <c>Authorization: Bearer</c> and
/// <c>Idempotency-Key</c> (a repeated key returns the first status); 200 Status, 401/422 <c>{"error": "…"}</c>.</item>
/// <item>https://docs.joinmastodon.org/methods/media/ — <c>POST /api/v2/media</c> (multipart <c>file</c>,
/// <c>description</c>; 200, or 202 with <c>url: null</c> while processing) and <c>GET /api/v1/media/:id</c>
/// (206 while processing, then 200).</item>
/// <item>https://docs.joinmastodon.org/api/rate-limits/ — what a 429 carries is up to <see cref="Fault"/>.</item>
/// </list>
/// Tests script failures through <see cref="Fault"/>, unanswered posts through <see cref="HangNext"/>, and hold
/// requests through <see cref="Gate"/> while counting how many are in flight at once.
/// A request body that fails while it is sent fails the request at once, as over a real connection
/// (<see cref="BodyFailureHandler"/>).
/// </summary>
public sealed class FakeMastodon : IAsyncDisposable
{
    public const string Origin = "https://mastodon.test";
    public const string Token = "token-of-alice";

    private static readonly JsonSerializerOptions SnakeCase = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, Status> _byIdempotencyKey = new();
    private readonly ConcurrentDictionary<string, int> _mediaPolls = new();
    private readonly ConcurrentQueue<Status> _statuses = new();
    private readonly ConcurrentDictionary<string, DateTime> _deleted = new();
    private long _lastId = 110_000_000_000_000_000;
    private int _inFlight;
    private int _maxInFlight;
    private int _hangNext;
    private readonly Unanswered _unanswered = new();
    private long _lastAnsweredAt;

    private FakeMastodon(WebApplication app) => _app = app;

    public sealed record Account(string Id, string Username, string Acct);

    public sealed record Attachment(string Id, string Type, string? Url, string PreviewUrl, string? Description);

    public sealed record Status(string Id, DateTime CreatedAt, string? InReplyToId, string Content, string Url, string Uri, string Visibility,
        IReadOnlyList<Attachment> MediaAttachments, Account Account);

    public ConcurrentQueue<MastodonRequest> Requests { get; } = new();

    /// <summary>The SHA-256 (lowercase hex) of every media file uploaded, by the media id the fake gave it.</summary>
    public ConcurrentDictionary<string, string> MediaSha256 { get; } = new();

    /// <summary>The statuses made, in order (a replayed idempotency key makes none).</summary>
    public IReadOnlyList<Status> Statuses => [.. _statuses];

    /// <summary>Answers a request instead of the fake, when it returns a result.</summary>
    public Func<HttpContext, Task<IResult?>>? Fault { get; set; }

    /// <summary>When set, every status request waits for it (and counts as in flight meanwhile).</summary>
    public SemaphoreSlim? Gate { get; set; }

    /// <summary>How long every status request takes (after <see cref="Gate"/>): a slow instance.</summary>
    public TimeSpan Latency { get; set; }

    /// <summary>When the last status was answered (a <see cref="Stopwatch"/> timestamp).</summary>
    public long LastAnsweredAt => Volatile.Read(ref _lastAnsweredAt);

    /// <summary>How often <c>GET /api/v1/media/:id</c> answers 206 before 200; zero: media is ready at once (200).</summary>
    public int MediaProcessingPolls { get; set; }

    public int InFlight => Volatile.Read(ref _inFlight);
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    /// <summary>The next <paramref name="count"/> statuses are made but never answered: the client has to give up.</summary>
    public void HangNext(int count) => Volatile.Write(ref _hangNext, count);

    /// <summary>The credentials the scheduling service hands over for an account on this instance.</summary>
    public static string Credentials(string token = Token) => JsonSerializer.Serialize(new { instanceUrl = Origin, accessToken = token });

    public static async Task<FakeMastodon> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        var app = builder.Build();
        var fake = new FakeMastodon(app);
        app.MapPost("/api/v1/statuses", (Delegate)fake.PostStatusAsync);
        app.MapPost("/api/v2/media", (Delegate)fake.UploadMediaAsync).DisableAntiforgery();
        app.MapGet("/api/v1/media/{id}", (Delegate)fake.GetMediaAsync);
        app.MapDelete("/api/v1/statuses/{id}", (Delegate)fake.DeleteStatusAsync);
        await app.StartAsync();
        return fake;
    }

    /// <summary>A client of the fake; a request it leaves unanswered (<see cref="HangNext"/>) times out at once, whatever the client's timeout.</summary>
    public HttpMessageHandler CreateHandler() => new BodyFailureHandler(_unanswered.CreateHandler(_app.GetTestServer().CreateHandler()));

    private async Task<IResult> PostStatusAsync(HttpContext context)
    {
        var request = await RecordAsync(context);
        if (Fault is { } fault && await fault(context) is { } injected)
        {
            return injected;
        }

        if (request.Authorization != $"Bearer {Token}")
        {
            return Error(401, "The access token is invalid");
        }

        int inFlight = Interlocked.Increment(ref _inFlight);
        InterlockedMax(ref _maxInFlight, inFlight);
        try
        {
            if (Gate is { } gate)
            {
                await gate.WaitAsync(context.RequestAborted);
            }

            if (Latency > TimeSpan.Zero)
            {
                await Task.Delay(Latency, context.RequestAborted);
            }

            string text = request.Form.GetValueOrDefault("status")?.FirstOrDefault() ?? "";
            string[] mediaIds = request.Form.GetValueOrDefault("media_ids[]") ?? [];
            string? inReplyTo = request.Form.GetValueOrDefault("in_reply_to_id")?.FirstOrDefault();
            if (text.Trim().Length == 0 && mediaIds.Length == 0)
            {
                return Error(422, "Validation failed: Text can't be blank");
            }

            if (inReplyTo is not null && _statuses.All(s => s.Id != inReplyTo))
            {
                return Error(404, "Record not found");
            }

            Status status;
            lock (_byIdempotencyKey)
            {
                status = request.IdempotencyKey is { } key
                    ? _byIdempotencyKey.GetOrAdd(key, _ => NewStatus(text, inReplyTo, mediaIds))
                    : NewStatus(text, inReplyTo, mediaIds);
            }

            if (Interlocked.Decrement(ref _hangNext) >= 0)
            {
                await _unanswered.HangAsync(context);
            }

            Volatile.Write(ref _lastAnsweredAt, Stopwatch.GetTimestamp());
            return Results.Json(status, SnakeCase);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    /// <summary>The ids of the statuses deleted, with when.</summary>
    public IReadOnlyDictionary<string, DateTime> Deleted => _deleted;

    // https://docs.joinmastodon.org/methods/statuses/#delete: 200 with the status; 404 for one the server does not have.
    private async Task<IResult> DeleteStatusAsync(HttpContext context)
    {
        var request = await RecordAsync(context);
        if (Fault is { } fault && await fault(context) is { } injected)
        {
            return injected;
        }

        if (request.Authorization != $"Bearer {Token}")
        {
            return Error(401, "The access token is invalid");
        }

        string id = (string)context.Request.RouteValues["id"]!;
        var status = _statuses.FirstOrDefault(s => s.Id == id);
        if (status is null || !_deleted.TryAdd(id, DateTime.UtcNow))
        {
            return Error(404, "Record not found");
        }

        if (Interlocked.Decrement(ref _hangNext) >= 0)
        {
            await _unanswered.HangAsync(context);
        }

        return Results.Json(status, SnakeCase);
    }

    private Status NewStatus(string text, string? inReplyTo, string[] mediaIds)
    {
        string id = Interlocked.Increment(ref _lastId).ToString(CultureInfo.InvariantCulture);
        var status = new Status(id, DateTime.UtcNow, inReplyTo, $"<p>{text}</p>", $"{Origin}/@alice/{id}", $"{Origin}/users/alice/statuses/{id}",
            "public", [.. mediaIds.Select(m => new Attachment(m, "image", $"{Origin}/media/{m}", $"{Origin}/media/{m}/small", null))],
            new Account("1", "alice", "alice"));
        _statuses.Enqueue(status);
        return status;
    }

    private async Task<IResult> UploadMediaAsync(HttpContext context)
    {
        var request = await RecordAsync(context);
        if (Fault is { } fault && await fault(context) is { } injected)
        {
            return injected;
        }

        if (request.Authorization != $"Bearer {Token}")
        {
            return Error(401, "The access token is invalid");
        }

        if (request.Files.FirstOrDefault(f => f.Name == "file") is not { ContentType.Length: > 0 } file)
        {
            return Error(422, "Validation failed: File content type is invalid, File is invalid");
        }

        string id = Interlocked.Increment(ref _lastId).ToString(CultureInfo.InvariantCulture);
        await using (var content = context.Request.Form.Files.GetFile("file")!.OpenReadStream())
        {
            MediaSha256[id] = Convert.ToHexStringLower(await System.Security.Cryptography.SHA256.HashDataAsync(content, context.RequestAborted));
        }

        string? description = request.Form.GetValueOrDefault("description")?.FirstOrDefault();
        _mediaPolls[id] = MediaProcessingPolls;
        return MediaProcessingPolls > 0
            ? Results.Json(new Attachment(id, "image", null, $"{Origin}/media/{id}/small", description), SnakeCase, statusCode: 202)
            : Results.Json(new Attachment(id, "image", $"{Origin}/media/{id}", $"{Origin}/media/{id}/small", description), SnakeCase);
    }

    private async Task<IResult> GetMediaAsync(HttpContext context, string id)
    {
        var request = await RecordAsync(context);
        if (request.Authorization != $"Bearer {Token}")
        {
            return Error(401, "The access token is invalid");
        }

        if (!_mediaPolls.TryGetValue(id, out int left))
        {
            return Error(404, "Record not found");
        }

        _mediaPolls[id] = left - 1;
        return left > 0 ? Results.StatusCode(206) : Results.Json(new Attachment(id, "image", $"{Origin}/media/{id}", $"{Origin}/media/{id}/small", null), SnakeCase);
    }

    private async Task<MastodonRequest> RecordAsync(HttpContext context)
    {
        var form = new Dictionary<string, string[]>();
        var files = new List<(string, string, string, long)>();
        if (context.Request.HasFormContentType)
        {
            var read = await context.Request.ReadFormAsync(context.RequestAborted);
            foreach (var field in read)
            {
                form[field.Key] = [.. field.Value.OfType<string>()];
            }

            files.AddRange(read.Files.Select(f => (f.Name, f.FileName, f.ContentType, f.Length)));
        }

        var request = new MastodonRequest(context.Request.Method, context.Request.Path, context.Request.Headers.Authorization.FirstOrDefault(),
            context.Request.Headers["Idempotency-Key"].FirstOrDefault(), form, files);
        Requests.Enqueue(request);
        return request;
    }

    public static IResult Error(int status, string message) => Results.Json(new { error = message }, statusCode: status);

    private static void InterlockedMax(ref int location, int value)
    {
        int current;
        while ((current = Volatile.Read(ref location)) < value && Interlocked.CompareExchange(ref location, value, current) != current)
        {
        }
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    /// <summary>
    /// A request whose body fails mid-send fails at once with the body's error, and the server sees it aborted, as
    /// SocketsHttpHandler does (HTTP/1.1 and HTTP/2). TestServer alone only notices a body that failed before the app
    /// started; one that fails later leaves the app waiting for the rest and the client for its timeout.
    /// </summary>
    private sealed class BodyFailureHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Content is null)
            {
                return await base.SendAsync(request, cancellationToken);
            }

            var body = new WatchedContent(request.Content);
            request.Content = body;
            using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var send = base.SendAsync(request, abort.Token);
            if (await Task.WhenAny(send, body.Failed) == send)
            {
                return await send;
            }

            // Cancelling is TestServer's way of dropping the connection: the app's RequestAborted fires and its reads end.
            await abort.CancelAsync();
            _ = send.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            ExceptionDispatchInfo.Throw(await body.Failed);
            throw new UnreachableException();
        }
    }

    /// <summary>The request's content, sent as it is, reporting the error when sending it fails.</summary>
    private sealed class WatchedContent : HttpContent
    {
        private readonly HttpContent _inner;
        private readonly TaskCompletionSource<Exception> _failed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public WatchedContent(HttpContent inner)
        {
            _inner = inner;
            foreach (var header in inner.Headers.NonValidated)
            {
                Headers.TryAddWithoutValidation(header.Key, header.Value);
            }
        }

        public Task<Exception> Failed => _failed.Task;

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            try
            {
                await _inner.CopyToAsync(stream, context, cancellationToken);
            }
            catch (Exception e)
            {
                _failed.TrySetResult(e);
                throw;
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = _inner.Headers.ContentLength ?? -1;
            return length >= 0;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
