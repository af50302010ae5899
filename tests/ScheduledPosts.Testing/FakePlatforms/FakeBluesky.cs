using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;

namespace ScheduledPosts.Testing.FakePlatforms;

/// <summary>A request the fake received: the XRPC method (NSID) and the Authorization header.</summary>
public sealed record BlueskyRequest(string Method, string Nsid, string? Authorization);

/// <summary>
/// An AT Protocol PDS as the lexicons of github.com/bluesky-social/atproto describe it, served in memory, for the
/// Bluesky connector's tests. It speaks XRPC (<c>/xrpc/{NSID}</c>, errors as <c>{"error", "message"}</c>) for:
/// <list type="bullet">
/// <item><c>com.atproto.server.createSession</c> (identifier + password → accessJwt, refreshJwt, handle, did; 401
/// AuthenticationRequired otherwise) and <c>refreshSession</c> (Bearer refreshJwt, used once; 400 ExpiredToken after).</item>
/// <item>Every other call wants <c>Authorization: Bearer accessJwt</c>: 401 AuthMissing without, 400 InvalidToken for an
/// unknown token, 400 ExpiredToken for an expired one (packages/pds/src/auth-verifier.ts).</item>
/// <item><c>com.atproto.repo.uploadBlob</c> (raw bytes, at most 2,000,000) → <c>{"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType", "size"}}</c>.</item>
/// <item><c>com.atproto.repo.createRecord</c> validating an <c>app.bsky.feed.post</c>: a TID record key; text of at
/// most 300 graphemes and 3000 UTF-8 bytes; facets whose byte ranges point, in UTF-8 bytes, at the link's URL or at
/// "@" and the mentioned DID's handle; an <c>app.bsky.embed.images</c> embed of at most 4 uploaded blobs with alt text;
/// a reply whose root and parent are records here. A key already used is a 500, as the PDS's repository answers it.</item>
/// <item><c>com.atproto.repo.deleteRecord</c> ("Delete a repository record, or ensure it doesn't exist": a record already
/// gone answers 200 too, without a commit).</item>
/// <item><c>com.atproto.repo.getRecord</c> (400 RecordNotFound) and <c>com.atproto.identity.resolveHandle</c> (400 HandleNotFound).</item>
/// </list>
/// Tests script failures through <see cref="Fault"/>, and lose the answer of a created record through <see cref="DropNextCreates"/>
/// (the connection breaks) or <see cref="HangNextCreates"/> (no answer until the client gives up). It runs in memory
/// (<see cref="StartAsync()"/>, for a connector's tests, at <see cref="Origin"/>) or as a real HTTP server on a
/// loopback address (<see cref="StartAsync(IPAddress)"/>, for the real processes, at <see cref="Service"/>).
/// </summary>
public sealed partial class FakeBluesky : IAsyncDisposable
{
    public const string Origin = "https://pds.test";
    public const string Handle = "alice.test";
    public const string Did = "did:plc:alice7fakepds7test7abcd";
    public const string AppPassword = "abcd-efgh-ijkl-mnop";
    public const string OtherHandle = "bob.test";
    public const string OtherDid = "did:plc:bob77fakepds7test7abcd";
    public const int MaxBlobBytes = 2_000_000;

    private WebApplication _app = null!;
    private readonly ConcurrentDictionary<string, bool> _accessTokens = new(); // token → expired
    private readonly ConcurrentDictionary<string, bool> _refreshTokens = new(); // token → still usable
    private readonly ConcurrentDictionary<string, StoredRecord> _records = new();
    private readonly ConcurrentQueue<StoredRecord> _created = new();
    private readonly ConcurrentQueue<StoredRecord> _deleted = new();
    private readonly Dictionary<string, string> _handles = new(StringComparer.OrdinalIgnoreCase) { [Handle] = Did, [OtherHandle] = OtherDid };
    private string _appPassword = AppPassword;
    private int _lastToken;
    private int _dropNext;
    private int _hangNext;
    private readonly Unanswered _unanswered = new();

    /// <summary>The PDS's URL, as an account's <c>service</c> names it: <see cref="Origin"/> in memory, else the loopback server's.</summary>
    public string Service { get; private set; } = Origin;

    /// <summary>The account's app password now: <see cref="AppPassword"/> until <see cref="RevokeAppPassword"/> replaces it.</summary>
    public string CurrentAppPassword => Volatile.Read(ref _appPassword);

    public sealed record StoredRecord(string Rkey, string Uri, string Cid, JsonObject Value);

    public sealed record Blob(string Cid, string MimeType, long Size, string Sha256);

    public ConcurrentQueue<BlueskyRequest> Requests { get; } = new();

    /// <summary>The blobs uploaded, by CID.</summary>
    public ConcurrentDictionary<string, Blob> Blobs { get; } = new();

    /// <summary>The records made, in order.</summary>
    public IReadOnlyList<StoredRecord> Records => [.. _created];

    /// <summary>The records deleted (deleteRecord of a record there), in order.</summary>
    public IReadOnlyList<StoredRecord> Deleted => [.. _deleted];

    /// <summary>Answers a request instead of the fake, when it returns a result; given the request's NSID.</summary>
    public Func<HttpContext, string, Task<IResult?>>? Fault { get; set; }

    public int SessionsCreated => Requests.Count(r => r.Nsid == "com.atproto.server.createSession");

    public int SessionsRefreshed => Requests.Count(r => r.Nsid == "com.atproto.server.refreshSession");

    /// <summary>Every access token given out so far expires (the next request with one is a 400 ExpiredToken).</summary>
    public void ExpireAccessTokens()
    {
        foreach (string token in _accessTokens.Keys)
        {
            _accessTokens[token] = true;
        }
    }

    /// <summary>Every refresh token given out so far is revoked.</summary>
    public void RevokeRefreshTokens()
    {
        foreach (string token in _refreshTokens.Keys)
        {
            _refreshTokens[token] = false;
        }
    }

    /// <summary>
    /// The user revokes the app password (and makes a new one, <see cref="CurrentAppPassword"/>): signing in with the old
    /// one is refused, and the sessions it opened end (their tokens are no longer known).
    /// </summary>
    public void RevokeAppPassword()
    {
        Volatile.Write(ref _appPassword, $"{Guid.NewGuid():N}"[..19]);
        _accessTokens.Clear();
        _refreshTokens.Clear();
    }

    /// <summary>The next <paramref name="count"/> created records are kept, then their connection breaks before the answer.</summary>
    public void DropNextCreates(int count) => Volatile.Write(ref _dropNext, count);

    /// <summary>The next <paramref name="count"/> created records are kept, then never answered: the client times out.</summary>
    public void HangNextCreates(int count) => Volatile.Write(ref _hangNext, count);

    /// <summary>The credentials the scheduling service hands over for an account on the in-memory PDS.</summary>
    public static string Credentials(string appPassword = AppPassword, string identifier = Handle)
        => JsonSerializer.Serialize(new { identifier, appPassword, service = Origin });

    /// <summary>The credentials a user pastes to connect the account now: its handle, its current app password, this PDS.</summary>
    public Dictionary<string, string> AccountCredentials()
        => new() { ["identifier"] = Handle, ["appPassword"] = CurrentAppPassword, ["service"] = Service };

    /// <summary>In memory, at <see cref="Origin"/>: reach it through <see cref="CreateHandler"/>.</summary>
    public static async Task<FakeBluesky> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        var fake = new FakeBluesky();
        fake._app = builder.Build();
        fake.Map(fake._app);
        await fake._app.StartAsync();
        return fake;
    }

    /// <summary>A real HTTP server on <paramref name="address"/> (127.0.0.2 stands in for a public host), at <see cref="Service"/>.</summary>
    public static async Task<FakeBluesky> StartAsync(IPAddress address)
    {
        var fake = new FakeBluesky();
        var (app, baseUrl) = await LoopbackHost.StartAsync(address, fake.Map);
        fake._app = app;
        fake.Service = baseUrl.GetLeftPart(UriPartial.Authority);
        return fake;
    }

    private void Map(WebApplication app)
    {
        app.MapPost("/xrpc/com.atproto.server.createSession", (Delegate)CreateSessionAsync);
        app.MapPost("/xrpc/com.atproto.server.refreshSession", (Delegate)RefreshSessionAsync);
        app.MapPost("/xrpc/com.atproto.repo.uploadBlob", (Delegate)UploadBlobAsync);
        app.MapPost("/xrpc/com.atproto.repo.createRecord", (Delegate)CreateRecordAsync);
        app.MapPost("/xrpc/com.atproto.repo.deleteRecord", (Delegate)DeleteRecordAsync);
        app.MapGet("/xrpc/com.atproto.repo.getRecord", (Delegate)GetRecordAsync);
        app.MapGet("/xrpc/com.atproto.identity.resolveHandle", (Delegate)ResolveHandleAsync);
    }

    /// <summary>
    /// A client of the in-memory PDS: a connection the fake breaks off fails as a socket's would, and a request it
    /// leaves unanswered (<see cref="HangAsync"/>) times out at once, whatever the client's timeout.
    /// </summary>
    public HttpMessageHandler CreateHandler() => new DroppedConnectionHandler(_unanswered.CreateHandler(_app.GetTestServer().CreateHandler()));

    /// <summary>Leaves the request unanswered: a client of <see cref="CreateHandler"/> times out on it, a real one waits for its own timeout.</summary>
    public Task HangAsync(HttpContext context) => _unanswered.HangAsync(context);

    public static IResult Error(int status, string error, string message) => Results.Json(new { error, message }, statusCode: status);

    private async Task<IResult?> EnterAsync(HttpContext context, string nsid)
    {
        Requests.Enqueue(new BlueskyRequest(context.Request.Method, nsid, context.Request.Headers.Authorization.FirstOrDefault()));
        return Fault is { } fault ? await fault(context, nsid) : null;
    }

    private async Task<IResult> CreateSessionAsync(HttpContext context)
    {
        if (await EnterAsync(context, "com.atproto.server.createSession") is { } injected)
        {
            return injected;
        }

        var body = await ReadObjectAsync(context);
        string? identifier = body?["identifier"]?.GetValue<string>();
        string? password = body?["password"]?.GetValue<string>();
        if (identifier is null || password is null)
        {
            return Error(400, "InvalidRequest", "Input must have the property \"identifier\"");
        }

        return (identifier is Handle or Did) && password == CurrentAppPassword
            ? NewSession()
            : Error(401, "AuthenticationRequired", "Invalid identifier or password");
    }

    private async Task<IResult> RefreshSessionAsync(HttpContext context)
    {
        if (await EnterAsync(context, "com.atproto.server.refreshSession") is { } injected)
        {
            return injected;
        }

        string? token = BearerToken(context);
        if (token is null)
        {
            return Error(401, "AuthMissing", "Authentication Required");
        }

        if (!_refreshTokens.TryGetValue(token, out bool usable))
        {
            return Error(400, "InvalidToken", "Token could not be verified");
        }

        // A refresh token is used once: the answer carries the next one.
        return usable && _refreshTokens.TryUpdate(token, false, true) ? NewSession() : Error(400, "ExpiredToken", "Token has been revoked");
    }

    private IResult NewSession()
    {
        int n = Interlocked.Increment(ref _lastToken);
        string access = $"access-{n}";
        string refresh = $"refresh-{n}";
        _accessTokens[access] = false;
        _refreshTokens[refresh] = true;
        return Results.Json(new { accessJwt = access, refreshJwt = refresh, handle = Handle, did = Did, active = true });
    }

    private IResult? Unauthorized(HttpContext context)
    {
        string? token = BearerToken(context);
        if (token is null)
        {
            return Error(401, "AuthMissing", "Authentication Required");
        }

        if (!_accessTokens.TryGetValue(token, out bool expired))
        {
            return Error(400, "InvalidToken", "Token could not be verified");
        }

        return expired ? Error(400, "ExpiredToken", "Token has expired") : null;
    }

    private async Task<IResult> UploadBlobAsync(HttpContext context)
    {
        if ((await EnterAsync(context, "com.atproto.repo.uploadBlob") ?? Unauthorized(context)) is { } refused)
        {
            return refused;
        }

        string? mimeType = context.Request.ContentType;
        if (string.IsNullOrEmpty(mimeType))
        {
            return Error(400, "InvalidRequest", "Missing content-type");
        }

        using var content = new MemoryStream();
        await context.Request.Body.CopyToAsync(content, context.RequestAborted);
        if (content.Length > MaxBlobBytes)
        {
            return Error(400, "BlobTooLarge", "This file is too large");
        }

        byte[] bytes = content.ToArray();
        string sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        string cid = $"bafkrei{sha[..40]}";
        Blobs[cid] = new Blob(cid, mimeType, bytes.Length, sha);
        return Results.Json(new JsonObject
        {
            ["blob"] = new JsonObject { ["$type"] = "blob", ["ref"] = new JsonObject { ["$link"] = cid }, ["mimeType"] = mimeType, ["size"] = bytes.Length },
        });
    }

    private async Task<IResult> CreateRecordAsync(HttpContext context)
    {
        if ((await EnterAsync(context, "com.atproto.repo.createRecord") ?? Unauthorized(context)) is { } refused)
        {
            return refused;
        }

        var body = await ReadObjectAsync(context);
        if (body?["repo"]?.GetValue<string>() is not (Did or Handle))
        {
            return Error(400, "InvalidRequest", "Could not find repo");
        }

        if (body["collection"]?.GetValue<string>() != "app.bsky.feed.post" || body["record"] is not JsonObject record)
        {
            return Error(400, "InvalidRequest", "Input must have the properties \"collection\" and \"record\"");
        }

        string rkey = body["rkey"]?.GetValue<string>() ?? NextTid();
        if (!Tid().IsMatch(rkey))
        {
            return Error(400, "InvalidRequest", $"Invalid record key for app.bsky.feed.post: must be a valid TID");
        }

        if (Invalid(record) is { } problem)
        {
            return Error(400, "InvalidRequest", $"Invalid app.bsky.feed.post record: {problem}");
        }

        string uri = $"at://{Did}/app.bsky.feed.post/{rkey}";
        string cid = $"bafyrei{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(record.ToJsonString())))[..40]}";
        var stored = new StoredRecord(rkey, uri, cid, record);
        if (!_records.TryAdd(rkey, stored))
        {
            // The repository's tree holds one value per key: the PDS fails the write ("There is already a value at key").
            return Error(500, "InternalServerError", "Internal Server Error");
        }

        _created.Enqueue(stored);
        if (Interlocked.Decrement(ref _dropNext) >= 0)
        {
            context.Abort();
            return Results.Empty;
        }

        if (Interlocked.Decrement(ref _hangNext) >= 0)
        {
            await HangAsync(context);
        }

        return Results.Json(new { uri, cid, validationStatus = "valid" });
    }

    private async Task<IResult> DeleteRecordAsync(HttpContext context)
    {
        if ((await EnterAsync(context, "com.atproto.repo.deleteRecord") ?? Unauthorized(context)) is { } refused)
        {
            return refused;
        }

        var body = await ReadObjectAsync(context);
        if (body?["repo"]?.GetValue<string>() is not (Did or Handle))
        {
            return Error(400, "InvalidRequest", "Could not find repo");
        }

        if (body["collection"]?.GetValue<string>() is not { Length: > 0 } collection || body["rkey"]?.GetValue<string>() is not { Length: > 0 } rkey)
        {
            return Error(400, "InvalidRequest", "Input must have the properties \"collection\" and \"rkey\"");
        }

        if (collection != "app.bsky.feed.post" || !_records.TryRemove(rkey, out var record))
        {
            return Results.Json(new JsonObject());
        }

        _deleted.Enqueue(record);
        return Results.Json(new JsonObject { ["commit"] = new JsonObject { ["cid"] = $"bafyrei{Guid.NewGuid():N}", ["rev"] = NextTid() } });
    }

    private async Task<IResult> GetRecordAsync(HttpContext context, string repo, string collection, string rkey)
    {
        if (await EnterAsync(context, "com.atproto.repo.getRecord") is { } injected)
        {
            return injected;
        }

        // getRecord needs no auth; a token it is given must still be valid.
        if (BearerToken(context) is not null && Unauthorized(context) is { } refused)
        {
            return refused;
        }

        return repo is Did or Handle && collection == "app.bsky.feed.post" && _records.TryGetValue(rkey, out var record)
            ? Results.Json(new { uri = record.Uri, cid = record.Cid, value = record.Value })
            : Error(400, "RecordNotFound", $"Could not locate record: at://{repo}/{collection}/{rkey}");
    }

    private async Task<IResult> ResolveHandleAsync(HttpContext context, string handle)
    {
        if (await EnterAsync(context, "com.atproto.identity.resolveHandle") is { } injected)
        {
            return injected;
        }

        return _handles.TryGetValue(handle, out string? did) ? Results.Json(new { did }) : Error(400, "HandleNotFound", "Unable to resolve handle");
    }

    // The parts of the app.bsky.feed.post lexicon (and those it refers to) that the connector writes.
    private string? Invalid(JsonObject record)
    {
        if (record["$type"]?.GetValue<string>() != "app.bsky.feed.post")
        {
            return "Record/$type must be app.bsky.feed.post";
        }

        if (record["text"] is not JsonValue textValue || !textValue.TryGetValue(out string? text))
        {
            return "Record must have the property \"text\"";
        }

        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        if (utf8.Length > 3000 || new StringInfo(text).LengthInTextElements > 300)
        {
            return "Record/text must not be longer than 300 graphemes";
        }

        if (record["createdAt"]?.GetValue<string>() is not { } createdAt
            || !DateTimeOffset.TryParse(createdAt, CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
        {
            return "Record/createdAt must be a valid datetime";
        }

        if (record["facets"] is JsonArray facets && InvalidFacets(utf8, facets) is { } facetProblem)
        {
            return facetProblem;
        }

        if (record["embed"] is JsonObject embed && InvalidEmbed(embed) is { } embedProblem)
        {
            return embedProblem;
        }

        if (record["reply"] is JsonObject reply)
        {
            foreach (string part in new[] { "root", "parent" })
            {
                string? uri = reply[part]?["uri"]?.GetValue<string>();
                string? cid = reply[part]?["cid"]?.GetValue<string>();
                if (!_records.Values.Any(r => r.Uri == uri && r.Cid == cid))
                {
                    return $"Record/reply/{part} must be a strongRef to an existing record";
                }
            }
        }

        return null;
    }

    private string? InvalidFacets(byte[] utf8, JsonArray facets)
    {
        foreach (var facet in facets)
        {
            int? start = facet?["index"]?["byteStart"]?.GetValue<int>();
            int? end = facet?["index"]?["byteEnd"]?.GetValue<int>();
            if (start is not { } from || end is not { } to || from < 0 || to <= from || to > utf8.Length)
            {
                return "Record/facets/index must be a byte range within the text";
            }

            string slice = Encoding.UTF8.GetString(utf8, from, to - from);
            if (facet!["features"] is not JsonArray { Count: > 0 } features)
            {
                return "Record/facets/features must not be empty";
            }

            foreach (var feature in features)
            {
                switch (feature?["$type"]?.GetValue<string>())
                {
                    case "app.bsky.richtext.facet#link":
                        string? uri = feature["uri"]?.GetValue<string>();
                        if (!Uri.TryCreate(uri, UriKind.Absolute, out _) || slice != uri)
                        {
                            return $"Record/facets: the link's bytes {from}..{to} hold \"{slice}\", not its uri";
                        }

                        break;
                    case "app.bsky.richtext.facet#mention":
                        string? did = feature["did"]?.GetValue<string>();
                        string? handle = _handles.FirstOrDefault(h => h.Value == did).Key;
                        if (handle is null || !string.Equals(slice, $"@{handle}", StringComparison.OrdinalIgnoreCase))
                        {
                            return $"Record/facets: the mention's bytes {from}..{to} hold \"{slice}\", not the handle of {did}";
                        }

                        break;
                    default:
                        return "Record/facets/features must be a mention, link or tag";
                }
            }
        }

        return null;
    }

    private string? InvalidEmbed(JsonObject embed)
    {
        if (embed["$type"]?.GetValue<string>() != "app.bsky.embed.images" || embed["images"] is not JsonArray { Count: >= 1 and <= 4 } images)
        {
            return "Record/embed must be app.bsky.embed.images with 1 to 4 images";
        }

        foreach (var image in images)
        {
            var blob = image?["image"];
            string? cid = blob?["ref"]?["$link"]?.GetValue<string>();
            if (blob?["$type"]?.GetValue<string>() != "blob" || cid is null || !Blobs.TryGetValue(cid, out var uploaded)
                || blob["mimeType"]?.GetValue<string>() != uploaded.MimeType || blob["size"]?.GetValue<long>() != uploaded.Size)
            {
                return "Record/embed/images/image must be a blob uploaded to this repository";
            }

            if (image!["alt"] is not JsonValue alt || !alt.TryGetValue(out string? _))
            {
                return "Record/embed/images must have the property \"alt\"";
            }
        }

        return null;
    }

    private string NextTid()
    {
        ulong value = ((ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000 << 10) | (ulong)Interlocked.Increment(ref _lastToken) % 1024;
        const string alphabet = "234567abcdefghijklmnopqrstuvwxyz";
        var key = new char[13];
        for (int i = 12; i >= 0; i--)
        {
            key[i] = alphabet[(int)(value & 0x1F)];
            value >>= 5;
        }

        return new string(key);
    }

    // packages/syntax/src/tid.ts
    [GeneratedRegex("^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")]
    private static partial Regex Tid();

    private static string? BearerToken(HttpContext context)
        => context.Request.Headers.Authorization.FirstOrDefault() is { } header && header.StartsWith("Bearer ", StringComparison.Ordinal)
            ? header["Bearer ".Length..]
            : null;

    private static async Task<JsonObject?> ReadObjectAsync(HttpContext context)
    {
        try
        {
            return await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    /// <summary>
    /// A connection the server broke off fails the request with an <see cref="HttpRequestException"/>, as
    /// SocketsHttpHandler reports it; TestServer reports the app's abort with its own exception type.
    /// </summary>
    private sealed class DroppedConnectionHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            try
            {
                return await base.SendAsync(request, cancellationToken);
            }
            catch (Exception e) when (e is not (HttpRequestException or OperationCanceledException) && !cancellationToken.IsCancellationRequested)
            {
                throw new HttpRequestException(HttpRequestError.ResponseEnded, "The server closed the connection before it answered.", e);
            }
        }
    }
}
