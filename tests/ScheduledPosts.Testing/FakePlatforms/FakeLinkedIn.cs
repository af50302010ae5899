using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace ScheduledPosts.Testing.FakePlatforms;

/// <summary>A post the fake holds: its URN, author, commentary as sent and as it reads, and its images in order or its video.</summary>
public sealed record FakeLinkedInPost(
    string Urn, string Author, string Commentary, string Text, IReadOnlyList<FakeLinkedInImage> Images, DateTimeOffset CreatedAt, FakeLinkedInVideo? Video = null);

/// <summary>An uploaded video: its URN, owner, and the bytes its parts put together.</summary>
public sealed record FakeLinkedInVideo(string Urn, string Owner, byte[] Bytes);

/// <summary>An uploaded image: its URN, owner, bytes (null until PUT), content type, and the alt text a post gave it.</summary>
public sealed record FakeLinkedInImage(string Urn, string Owner, byte[]? Bytes, string? ContentType, string? AltText = null);

/// <summary>An organisation page and the fake member's role on it.</summary>
public sealed record FakeLinkedInOrganization(string Id, string Name, string VanityName, string Role)
{
    public string Urn => $"urn:li:organization:{Id}";
}

/// <summary>
/// LinkedIn as its documentation describes it (services/publisher/Connectors/LinkedIn/README.md lists the pages), as a
/// real HTTP server on a loopback address, for the connector's tests and the end-to-end tests:
/// <list type="bullet">
/// <item>OAuth 2.0: <c>GET /oauth/v2/authorization</c> (client_id, an allowed redirect_uri, response_type=code, state,
/// scopes the app has; a code_challenge only with S256) simulates consent with a 302 to <c>redirect_uri?code&amp;state</c>;
/// <c>POST /oauth/v2/accessToken</c> takes client_id and client_secret in the form body, for authorization_code (code
/// used once, redirect_uri as authorized, code_verifier when a challenge was given) and refresh_token (the same refresh
/// token back, its lifetime counting down; a revoked grant is a 400 invalid_grant).</item>
/// <item><c>GET /v2/userinfo</c> (openid + profile); <c>/rest</c> calls want <c>LinkedIn-Version</c> and
/// <c>X-Restli-Protocol-Version: 2.0.0</c>: organizationAcls (q=roleAssignee), organizations/{id}, images
/// (action=initializeUpload, then a PUT of the bytes to the upload URL), videos (action=initializeUpload answering one
/// upload URL per part of <see cref="VideoPartBytes"/>, a PUT of each part answering an ETag, action=finalizeUpload with
/// the ETags in order, then <c>GET /rest/videos/{urn}</c>: PROCESSING for <see cref="VideoProcessingPolls"/> reads, then
/// AVAILABLE or PROCESSING_FAILED), posts (create: 201 with x-restli-id; q=author finder; <c>DELETE /rest/posts/{encoded URN}</c>
/// with <c>X-RestLi-Method: DELETE</c> by the post's author: 204, again 204 once deleted (idempotent), 404 for a URN it never had).</item>
/// <item>A missing, unknown, expired or revoked token is a 401 <c>{"status", "serviceErrorCode", "code", "message"}</c>;
/// a missing scope or page role a 403.</item>
/// </list>
/// Test hooks: <see cref="ExpireAccessTokens"/>, <see cref="RevokeGrants"/>, <see cref="RateLimitNextCreates"/>,
/// <see cref="LoseNextCreateAnswers"/>, <see cref="FailNextVideoProcessing"/>, <see cref="Posts"/>. Safe to call from several threads.
/// </summary>
public sealed class FakeLinkedIn : IAsyncDisposable
{
    public const string ClientId = "fake-linkedin-client";
    public const string ClientSecret = "fake-linkedin-secret";
    public const string MemberSub = "782bbtaQ";
    public const string MemberName = "Ada Lovelace";
    public const string PersonUrn = "urn:li:person:" + MemberSub;
    public const int MaxCommentary = 3000;

    /// <summary>What LinkedIn's daily-limit 429 says; the fake sends no reset header (LinkedIn documents none) unless a test asks for Retry-After.</summary>
    public const string ThrottleMessage = "Resource level throttle MEMBER DAY limit for calls to this resource is reached.";

    public static readonly TimeSpan AccessTokenLifetime = TimeSpan.FromDays(60);
    public static readonly TimeSpan RefreshTokenLifetime = TimeSpan.FromDays(365);

    /// <summary>The pages the fake member holds a role on: an administrator's, a content administrator's, an analyst's.</summary>
    public static readonly IReadOnlyList<FakeLinkedInOrganization> Organizations =
    [
        new("2414183", "Devtestco", "devtestco", "ADMINISTRATOR"),
        new("5583111", "Acme Content", "acme-content", "CONTENT_ADMINISTRATOR"),
        new("9990001", "Watched Only", "watched-only", "ANALYST"),
    ];

    /// <summary>Every scope the fake app was granted products for.</summary>
    public static readonly IReadOnlySet<string> AppScopes = new HashSet<string>(StringComparer.Ordinal)
    {
        "openid", "profile", "email", "w_member_social", "r_member_social",
        "r_organization_admin", "rw_organization_admin", "w_organization_social", "r_organization_social",
    };

    private static readonly string[] PostingRoles = ["ADMINISTRATOR", "CONTENT_ADMINISTRATOR"];
    private const string ReservedCharacters = @"|{}@[]()<>#\*_~";

    private readonly Lock _lock = new();
    private readonly WebApplication _app;
    private readonly Dictionary<string, Code> _codes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Grant> _grants = new(StringComparer.Ordinal); // by refresh token
    private readonly Dictionary<string, AccessToken> _tokens = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FakeLinkedInImage> _images = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _uploads = new(StringComparer.Ordinal); // upload token → image URN
    private readonly List<FakeLinkedInPost> _posts = [];
    private readonly List<FakeLinkedInPost> _deleted = [];
    private readonly Queue<(int Status, TimeSpan? RetryAfter)> _deleteFailures = new();
    private long _lastId;
    private int _rateLimitNext;
    private TimeSpan? _retryAfter;
    private int _loseNext;
    private int _createRequests;
    private readonly Dictionary<string, VideoUpload> _videos = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Video, int Part)> _videoParts = new(StringComparer.Ordinal); // upload token → part
    private string? _videoFailure;
    private int _videoStatusRequests;

    // A video between initializeUpload and AVAILABLE: its parts (byte ranges, bytes and ETags once PUT), then processing.
    private sealed class VideoUpload(string owner, long size, string uploadToken, List<(long First, long Last)> ranges)
    {
        public string Owner { get; } = owner;
        public long Size { get; } = size;
        public string UploadToken { get; } = uploadToken;
        public List<(long First, long Last)> Ranges { get; } = ranges;
        public Dictionary<int, (byte[] Bytes, string ETag)> Parts { get; } = [];
        public byte[]? Bytes { get; set; }
        public int PollsLeft { get; set; }
        public string? Failure { get; set; }

        public string Status => Bytes is null ? "WAITING_UPLOAD" : PollsLeft > 0 ? "PROCESSING" : Failure is null ? "AVAILABLE" : "PROCESSING_FAILED";
    }

    private sealed record Code(string RedirectUri, IReadOnlySet<string> Scopes, string? Challenge, DateTimeOffset ExpiresAt);

    private sealed class Grant(IReadOnlySet<string> scopes, DateTimeOffset refreshExpiresAt)
    {
        public IReadOnlySet<string> Scopes { get; } = scopes;

        public DateTimeOffset RefreshExpiresAt { get; } = refreshExpiresAt;

        public bool Revoked { get; set; }
    }

    private sealed class AccessToken(Grant grant, DateTimeOffset expiresAt)
    {
        public Grant Grant { get; } = grant;

        public DateTimeOffset ExpiresAt { get; set; } = expiresAt;
    }

    private FakeLinkedIn(WebApplication app, Uri baseUrl, TimeProvider clock)
    {
        _app = app;
        BaseUrl = baseUrl;
        Clock = clock;
    }

    /// <summary>The server's root: the API base URL, and the host of the OAuth endpoints.</summary>
    public Uri BaseUrl { get; }

    public Uri AuthorizeUrl => new(BaseUrl, "oauth/v2/authorization");

    public Uri TokenUrl => new(BaseUrl, "oauth/v2/accessToken");

    public TimeProvider Clock { get; }

    /// <summary>The redirect URIs registered for the app; when empty, any absolute http(s) URI is taken.</summary>
    public HashSet<string> RedirectUris { get; } = new(StringComparer.Ordinal);

    /// <summary>Whether the app is approved for programmatic refresh tokens (LinkedIn's default is no; the fake's yes).</summary>
    public bool IssuesRefreshTokens { get; set; } = true;

    /// <summary>The posts made, in order.</summary>
    public IReadOnlyList<FakeLinkedInPost> Posts
    {
        get
        {
            lock (_lock)
            {
                return [.. _posts];
            }
        }
    }

    /// <summary>The size of each part a video upload is split into (the fake's choice: LinkedIn names the parts in its answer).</summary>
    public int VideoPartBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>How many status reads a finalized video answers PROCESSING before it is done.</summary>
    public int VideoProcessingPolls { get; set; }

    /// <summary>How many <c>GET /rest/videos/{urn}</c> requests arrived.</summary>
    public int VideoStatusRequests => Volatile.Read(ref _videoStatusRequests);

    /// <summary>The next finalized video ends PROCESSING_FAILED with <paramref name="reason"/> as its processingFailureReason.</summary>
    public void FailNextVideoProcessing(string reason)
    {
        lock (_lock)
        {
            _videoFailure = reason;
        }
    }

    /// <summary>How many <c>POST /rest/posts</c> requests arrived, answered or not.</summary>
    public int CreateRequests => Volatile.Read(ref _createRequests);

    public static async Task<FakeLinkedIn> StartAsync(IPAddress? address = null, TimeProvider? clock = null)
    {
        FakeLinkedIn? fake = null;
        var (app, baseUrl) = await LoopbackHost.StartAsync(address ?? IPAddress.Loopback, app =>
        {
            app.MapGet("/oauth/v2/authorization", (HttpContext c) => fake!.Authorize(c));
            app.MapPost("/oauth/v2/accessToken", (Delegate)(Func<HttpContext, Task<IResult>>)(c => fake!.TokenAsync(c)));
            app.MapGet("/v2/userinfo", (HttpContext c) => fake!.UserInfo(c));
            app.MapGet("/rest/organizationAcls", (HttpContext c) => fake!.OrganizationAcls(c));
            app.MapGet("/rest/organizations/{id}", (HttpContext c, string id) => fake!.Organization(c, id));
            app.MapPost("/rest/images", (Delegate)(Func<HttpContext, Task<IResult>>)(c => fake!.InitializeUploadAsync(c)));
            app.MapPut("/dms-uploads/{token}", (HttpContext c, string token) => fake!.UploadAsync(c, token));
            app.MapPost("/rest/videos", (Delegate)(Func<HttpContext, Task<IResult>>)(c => fake!.VideosActionAsync(c)));
            app.MapPut("/dms-uploads/video/{token}", (HttpContext c, string token) => fake!.VideoPartAsync(c, token));
            app.MapGet("/rest/videos/{urn}", (HttpContext c, string urn) => fake!.Video(c, urn));
            app.MapPost("/rest/posts", (Delegate)(Func<HttpContext, Task<IResult>>)(c => fake!.CreatePostAsync(c)));
            app.MapGet("/rest/posts", (HttpContext c) => fake!.FindPosts(c));
            app.MapDelete("/rest/posts/{urn}", (HttpContext c, string urn) => fake!.DeletePost(c, urn));
        });
        fake = new FakeLinkedIn(app, baseUrl, clock ?? TimeProvider.System);
        return fake;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    /// <summary>A grant as the token endpoint would make it, without the browser: its access and refresh tokens.</summary>
    public (string AccessToken, string RefreshToken) IssueGrant(params string[] scopes)
    {
        lock (_lock)
        {
            var grant = new Grant(new HashSet<string>(scopes, StringComparer.Ordinal), Clock.GetUtcNow() + RefreshTokenLifetime);
            string refresh = NewToken("refresh");
            _grants[refresh] = grant;
            return (NewAccessToken(grant), refresh);
        }
    }

    /// <summary>The credentials a connected account carries for <paramref name="author"/>, with a fresh token of <paramref name="scopes"/>.</summary>
    public string Credentials(string author, params string[] scopes)
        => JsonSerializer.Serialize(new { accessToken = IssueGrant(scopes).AccessToken, author });

    /// <summary>Every access token given out so far has expired: the next API call with one is a 401.</summary>
    public void ExpireAccessTokens()
    {
        lock (_lock)
        {
            foreach (var token in _tokens.Values)
            {
                token.ExpiresAt = Clock.GetUtcNow();
            }
        }
    }

    /// <summary>The member revoked the app: its refresh tokens answer invalid_grant, its access tokens 401.</summary>
    public void RevokeGrants()
    {
        lock (_lock)
        {
            foreach (var grant in _grants.Values)
            {
                grant.Revoked = true;
            }
        }
    }

    /// <summary>The next <paramref name="count"/> creates answer 429; with a Retry-After only when <paramref name="retryAfter"/> is given.</summary>
    public void RateLimitNextCreates(int count, TimeSpan? retryAfter = null)
    {
        lock (_lock)
        {
            _rateLimitNext = count;
            _retryAfter = retryAfter;
        }
    }

    /// <summary>The posts deleted, in order.</summary>
    public IReadOnlyList<FakeLinkedInPost> Deleted
    {
        get
        {
            lock (_lock)
            {
                return [.. _deleted];
            }
        }
    }

    /// <summary>The next <paramref name="count"/> deletions answer <paramref name="status"/> (with a Retry-After when given) and delete nothing.</summary>
    public void FailNextDeletes(int count, int status, TimeSpan? retryAfter = null)
    {
        lock (_lock)
        {
            for (int i = 0; i < count; i++)
            {
                _deleteFailures.Enqueue((status, retryAfter));
            }
        }
    }

    /// <summary>The next <paramref name="count"/> creates make their post, then break the connection before answering.</summary>
    public void LoseNextCreateAnswers(int count) => Volatile.Write(ref _loseNext, count);

    /// <summary>A post made elsewhere (by hand, or earlier): for lookups that must not take it for ours.</summary>
    public FakeLinkedInPost AddPost(string author, string text, DateTimeOffset createdAt, int imageCount = 0)
    {
        lock (_lock)
        {
            var images = Enumerable.Range(0, imageCount).Select(_ => new FakeLinkedInImage(NewUrn("image"), author, [1], "image/png")).ToList();
            var post = new FakeLinkedInPost(NewUrn("share"), author, Escape(text), text, images, createdAt);
            _posts.Add(post);
            return post;
        }
    }

    // ---- OAuth ----

    private IResult Authorize(HttpContext context)
    {
        var q = context.Request.Query;
        string? redirectUri = q["redirect_uri"];
        if (q["client_id"] != ClientId)
        {
            return Results.BadRequest("The passed in client_id is invalid");
        }

        if (redirectUri is null || !AllowedRedirect(redirectUri))
        {
            return Results.BadRequest("The redirect_uri does not match the registered value");
        }

        string? state = q["state"];
        if (q["response_type"] != "code" || string.IsNullOrEmpty(state))
        {
            return Redirect(redirectUri, ("error", "invalid_request"), ("error_description", "response_type=code and state are required"), ("state", state));
        }

        var scopes = new HashSet<string>(((string?)q["scope"] ?? "").Split([' ', ','], StringSplitOptions.RemoveEmptyEntries), StringComparer.Ordinal);
        if (scopes.FirstOrDefault(s => !AppScopes.Contains(s)) is { } unknown)
        {
            return Redirect(redirectUri, ("error", "unauthorized_scope_error"), ("error_description", $"Scope \"{unknown}\" is not authorized for your application"), ("state", state));
        }

        string? challenge = q["code_challenge"];
        if (challenge is not null && q["code_challenge_method"] != "S256")
        {
            return Redirect(redirectUri, ("error", "invalid_request"), ("error_description", "code_challenge_method must be S256"), ("state", state));
        }

        string code;
        lock (_lock)
        {
            code = NewToken("code");
            // An authorization code is valid for 30 minutes.
            _codes[code] = new Code(redirectUri, scopes, challenge, Clock.GetUtcNow().AddMinutes(30));
        }

        return Redirect(redirectUri, ("code", code), ("state", state));
    }

    private bool AllowedRedirect(string uri)
    {
        lock (_lock)
        {
            return RedirectUris.Count == 0
                ? Uri.TryCreate(uri, UriKind.Absolute, out var parsed) && parsed.Scheme is "http" or "https" && parsed.Fragment.Length == 0
                : RedirectUris.Contains(uri);
        }
    }

    private static IResult Redirect(string redirectUri, params (string Name, string? Value)[] parameters)
    {
        string url = redirectUri;
        foreach (var (name, value) in parameters)
        {
            if (value is not null)
            {
                url = QueryHelpers.AddQueryString(url, name, value);
            }
        }

        return Results.Redirect(url);
    }

    private async Task<IResult> TokenAsync(HttpContext context)
    {
        if (!context.Request.HasFormContentType)
        {
            return OAuthError(400, "invalid_request", "The request must be application/x-www-form-urlencoded");
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        if (form["client_id"] != ClientId || form["client_secret"] != ClientSecret)
        {
            return OAuthError(401, "invalid_client", "Client authentication failed");
        }

        lock (_lock)
        {
            switch ((string?)form["grant_type"])
            {
                case "authorization_code":
                {
                    string code = form["code"].ToString();
                    if (!_codes.Remove(code, out var issued) || issued.ExpiresAt < Clock.GetUtcNow())
                    {
                        return OAuthError(400, "invalid_request", "Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code. Or authorization code expired.");
                    }

                    if (form["redirect_uri"] != issued.RedirectUri)
                    {
                        return OAuthError(400, "invalid_request", "Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code. Or authorization code expired.");
                    }

                    if (issued.Challenge is { } challenge
                        && Base64UrlEncode(SHA256.HashData(Encoding.ASCII.GetBytes(form["code_verifier"].ToString()))) != challenge)
                    {
                        return OAuthError(400, "invalid_request", "Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code. Or authorization code expired.");
                    }

                    var grant = new Grant(issued.Scopes, Clock.GetUtcNow() + RefreshTokenLifetime);
                    string? refresh = IssuesRefreshTokens ? NewToken("refresh") : null;
                    if (refresh is not null)
                    {
                        _grants[refresh] = grant;
                    }

                    return TokenAnswer(NewAccessToken(grant), refresh, grant);
                }

                case "refresh_token":
                {
                    string refresh = form["refresh_token"].ToString();
                    if (!_grants.TryGetValue(refresh, out var grant) || grant.Revoked || grant.RefreshExpiresAt <= Clock.GetUtcNow())
                    {
                        return OAuthError(400, "invalid_grant", "The provided authorization grant or refresh token is invalid, expired or revoked.");
                    }

                    // The refresh token keeps its lifetime from the first authorization; only the access token is new.
                    return TokenAnswer(NewAccessToken(grant), refresh, grant);
                }

                default:
                    return OAuthError(400, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token");
            }
        }
    }

    private IResult TokenAnswer(string access, string? refresh, Grant grant)
    {
        var answer = new JsonObject
        {
            ["access_token"] = access,
            ["expires_in"] = (long)AccessTokenLifetime.TotalSeconds,
            ["scope"] = string.Join(',', grant.Scopes.Order(StringComparer.Ordinal)),
        };
        if (refresh is not null)
        {
            answer["refresh_token"] = refresh;
            answer["refresh_token_expires_in"] = (long)Math.Max(0, (grant.RefreshExpiresAt - Clock.GetUtcNow()).TotalSeconds);
        }

        return Results.Json(answer);
    }

    private static IResult OAuthError(int status, string error, string description)
        => Results.Json(new { error, error_description = description }, statusCode: status);

    // ---- API ----

    private IResult UserInfo(HttpContext context)
    {
        if (Authenticate(context, rest: false, out var grant) is { } refused)
        {
            return refused;
        }

        if (!grant!.Scopes.Contains("openid") || !grant.Scopes.Contains("profile"))
        {
            return ApiError(403, "ACCESS_DENIED", "Not enough permissions to access: userinfo.GET.NO_VERSION");
        }

        return Results.Json(new
        {
            sub = MemberSub,
            name = MemberName,
            given_name = "Ada",
            family_name = "Lovelace",
            picture = "https://media.licdn.example/ada.png",
            locale = new { country = "GB", language = "en" },
        });
    }

    private IResult OrganizationAcls(HttpContext context)
    {
        if (Authenticate(context, rest: true, out var grant) is { } refused)
        {
            return refused;
        }

        if (!grant!.Scopes.Contains("r_organization_admin") && !grant.Scopes.Contains("rw_organization_admin"))
        {
            return ApiError(403, "ACCESS_DENIED", "Not enough permissions to access: organizationAcls.FINDER-roleAssignee");
        }

        var q = context.Request.Query;
        if (q["q"] != "roleAssignee")
        {
            return ApiError(400, "ILLEGAL_ARGUMENT", "q must be roleAssignee or organization");
        }

        int start = int.TryParse(q["start"], CultureInfo.InvariantCulture, out int s) ? s : 0;
        int count = int.TryParse(q["count"], CultureInfo.InvariantCulture, out int c) ? c : 10;
        var matching = Organizations
            .Where(o => q["role"].Count == 0 || q["role"] == o.Role)
            .Where(o => q["state"].Count == 0 || q["state"] == "APPROVED")
            .ToList();
        return Results.Json(new
        {
            paging = new { count, start, links = Array.Empty<object>() },
            elements = matching.Skip(start).Take(count).Select(o => new { roleAssignee = PersonUrn, state = "APPROVED", role = o.Role, organization = o.Urn }),
        });
    }

    private IResult Organization(HttpContext context, string id)
    {
        if (Authenticate(context, rest: true, out _) is { } refused)
        {
            return refused;
        }

        return Organizations.FirstOrDefault(o => o.Id == id) is { } organization
            ? Results.Json(new
            {
                id = long.Parse(organization.Id, CultureInfo.InvariantCulture),
                localizedName = organization.Name,
                vanityName = organization.VanityName,
                name = new { localized = new { en_US = organization.Name }, preferredLocale = new { country = "US", language = "en" } },
            })
            : ApiError(404, "NOT_FOUND", $"Organization {id} not found");
    }

    private async Task<IResult> InitializeUploadAsync(HttpContext context)
    {
        if (Authenticate(context, rest: true, out var grant) is { } refused)
        {
            return refused;
        }

        if (context.Request.Query["action"] != "initializeUpload")
        {
            return ApiError(400, "ILLEGAL_ARGUMENT", "Unsupported action");
        }

        string? owner = (await ReadObjectAsync(context))?["initializeUploadRequest"]?["owner"]?.GetValue<string>();
        if (owner is null)
        {
            return ValidationError("/initializeUploadRequest/owner", "FIELD_MISSING", "owner is required");
        }

        if (MayActAs(grant!, owner) is { } denied)
        {
            return denied;
        }

        lock (_lock)
        {
            string image = NewUrn("image");
            string token = NewToken("upload");
            _images[image] = new FakeLinkedInImage(image, owner, null, null);
            _uploads[token] = image;
            return Results.Json(new
            {
                value = new
                {
                    uploadUrlExpiresAt = Clock.GetUtcNow().AddDays(1).ToUnixTimeMilliseconds(),
                    uploadUrl = new Uri(BaseUrl, $"dms-uploads/{token}").AbsoluteUri,
                    image,
                },
            });
        }
    }

    private async Task<IResult> UploadAsync(HttpContext context, string token)
    {
        if (Authenticate(context, rest: false, out _) is { } refused)
        {
            return refused;
        }

        string? type = context.Request.ContentType;
        if (type is not ("image/jpeg" or "image/png" or "image/gif"))
        {
            return ApiError(400, "BAD_REQUEST", "Unsupported image format: JPG, PNG and GIF are supported");
        }

        using var content = new MemoryStream();
        await context.Request.Body.CopyToAsync(content, context.RequestAborted);
        lock (_lock)
        {
            if (!_uploads.Remove(token, out string? urn))
            {
                return ApiError(404, "NOT_FOUND", "Unknown upload");
            }

            _images[urn] = _images[urn] with { Bytes = content.ToArray(), ContentType = type };
        }

        return Results.StatusCode(201);
    }

    // Videos API: initializeUpload (owner, fileSizeBytes from 75 KB to 500 MB) answers the video URN, an upload token and
    // one upload URL per part; finalizeUpload wants every part's ETag, in order.
    private async Task<IResult> VideosActionAsync(HttpContext context)
    {
        if (Authenticate(context, rest: true, out var grant) is { } refused)
        {
            return refused;
        }

        var body = await ReadObjectAsync(context);
        switch ((string?)context.Request.Query["action"])
        {
            case "initializeUpload":
            {
                var request = body?["initializeUploadRequest"];
                string? owner = Text(request?["owner"]);
                if (owner is null)
                {
                    return ValidationError("/initializeUploadRequest/owner", "FIELD_MISSING", "owner is required");
                }

                if (MayActAs(grant!, owner) is { } denied)
                {
                    return denied;
                }

                if (request?["fileSizeBytes"] is not JsonValue sizeValue || !sizeValue.TryGetValue(out long size) || size < 75 * 1024 || size > 500L * 1024 * 1024)
                {
                    return ValidationError("/initializeUploadRequest/fileSizeBytes", "INVALID_VALUE", "fileSizeBytes must be between 75 KB and 500 MB");
                }

                lock (_lock)
                {
                    string video = NewUrn("video");
                    var ranges = new List<(long First, long Last)>();
                    for (long first = 0; first < size; first += VideoPartBytes)
                    {
                        ranges.Add((first, Math.Min(first + VideoPartBytes, size) - 1));
                    }

                    _videos[video] = new VideoUpload(owner, size, NewToken("video-upload"), ranges);
                    var instructions = new JsonArray();
                    for (int i = 0; i < ranges.Count; i++)
                    {
                        string token = NewToken("part");
                        _videoParts[token] = (video, i);
                        instructions.Add(new JsonObject
                        {
                            ["uploadUrl"] = new Uri(BaseUrl, $"dms-uploads/video/{token}").AbsoluteUri,
                            ["firstByte"] = ranges[i].First,
                            ["lastByte"] = ranges[i].Last,
                        });
                    }

                    return Results.Json(new JsonObject
                    {
                        ["value"] = new JsonObject
                        {
                            ["uploadUrlsExpireAt"] = Clock.GetUtcNow().AddDays(1).ToUnixTimeMilliseconds(),
                            ["video"] = video,
                            ["uploadInstructions"] = instructions,
                            ["uploadToken"] = _videos[video].UploadToken,
                        },
                    });
                }
            }

            case "finalizeUpload":
            {
                var request = body?["finalizeUploadRequest"];
                string? urn = Text(request?["video"]);
                var etags = request?["uploadedPartIds"] is JsonArray ids ? ids.Select(i => Text(i) ?? "").ToList() : null;
                lock (_lock)
                {
                    if (urn is null || !_videos.TryGetValue(urn, out var video) || video.Bytes is not null)
                    {
                        return ValidationError("/finalizeUploadRequest/video", "INVALID_VALUE", "video is not an upload in progress");
                    }

                    if (MayActAs(grant!, video.Owner) is { } denied)
                    {
                        return denied;
                    }

                    if (Text(request?["uploadToken"]) != video.UploadToken)
                    {
                        return ValidationError("/finalizeUploadRequest/uploadToken", "INVALID_VALUE", "uploadToken does not match the upload");
                    }

                    if (video.Parts.Count != video.Ranges.Count
                        || etags is null || !etags.SequenceEqual(Enumerable.Range(0, video.Ranges.Count).Select(i => video.Parts[i].ETag)))
                    {
                        return ValidationError("/finalizeUploadRequest/uploadedPartIds", "INVALID_VALUE", "uploadedPartIds must be every part's ETag, in order");
                    }

                    video.Bytes = [.. Enumerable.Range(0, video.Ranges.Count).SelectMany(i => video.Parts[i].Bytes)];
                    video.PollsLeft = VideoProcessingPolls;
                    video.Failure = _videoFailure;
                    _videoFailure = null;
                    return Results.Ok();
                }
            }

            default:
                return ApiError(400, "ILLEGAL_ARGUMENT", "Unsupported action");
        }
    }

    // A part's upload URL is signed: no token needed; its bytes must be exactly its range.
    private async Task<IResult> VideoPartAsync(HttpContext context, string token)
    {
        using var content = new MemoryStream();
        await context.Request.Body.CopyToAsync(content, context.RequestAborted);
        lock (_lock)
        {
            if (!_videoParts.Remove(token, out var part) || !_videos.TryGetValue(part.Video, out var video))
            {
                return ApiError(404, "NOT_FOUND", "Unknown upload");
            }

            var (first, last) = video.Ranges[part.Part];
            if (content.Length != last - first + 1)
            {
                _videoParts[token] = part;
                return ApiError(400, "BAD_REQUEST", $"The part must be bytes {first} to {last}");
            }

            string etag = NewToken("etag");
            video.Parts[part.Part] = (content.ToArray(), etag);
            context.Response.Headers.ETag = $"\"{etag}\"";
            return Results.Ok();
        }
    }

    private IResult Video(HttpContext context, string urn)
    {
        Interlocked.Increment(ref _videoStatusRequests);
        if (Authenticate(context, rest: true, out _) is { } refused)
        {
            return refused;
        }

        lock (_lock)
        {
            if (!_videos.TryGetValue(urn, out var video))
            {
                return ApiError(404, "NOT_FOUND", $"Video {urn} not found");
            }

            var answer = new JsonObject { ["id"] = urn, ["owner"] = video.Owner, ["status"] = video.Status };
            if (video.Status == "PROCESSING_FAILED")
            {
                answer["processingFailureReason"] = video.Failure;
            }

            if (video.Bytes is not null && video.PollsLeft > 0)
            {
                video.PollsLeft--;
            }

            return Results.Json(answer);
        }
    }

    private async Task<IResult> CreatePostAsync(HttpContext context)
    {
        Interlocked.Increment(ref _createRequests);
        if (Authenticate(context, rest: true, out var grant) is { } refused)
        {
            return refused;
        }

        lock (_lock)
        {
            if (_rateLimitNext > 0)
            {
                _rateLimitNext--;
                if (_retryAfter is { } delay)
                {
                    context.Response.Headers.RetryAfter = ((long)Math.Ceiling(delay.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                }

                return ApiError(429, "TOO_MANY_REQUESTS", ThrottleMessage);
            }
        }

        var body = await ReadObjectAsync(context);
        string? author = Text(body?["author"]);
        string? commentary = Text(body?["commentary"]);
        if (author is null)
        {
            return ValidationError("/author", "FIELD_MISSING", "author is required");
        }

        if (MayActAs(grant!, author) is { } denied)
        {
            return denied;
        }

        if (Text(body!["lifecycleState"]) != "PUBLISHED" || Text(body["visibility"]) is not ("PUBLIC" or "CONNECTIONS" or "LOGGED_IN")
            || Text(body["distribution"]?["feedDistribution"]) is null)
        {
            return ValidationError("/lifecycleState", "INVALID_VALUE", "lifecycleState PUBLISHED, a visibility and a distribution are required");
        }

        string text = Render(commentary ?? "");
        if (text.EnumerateRunes().Count() > MaxCommentary)
        {
            return ValidationError("/commentary", "MAX_LENGTH_EXCEEDED", $"commentary is longer than {MaxCommentary} characters");
        }

        var references = new List<(string Urn, string? Alt)>();
        if (body["content"] is JsonObject content)
        {
            if (content["media"] is JsonObject media)
            {
                references.Add((Text(media["id"]) ?? "", Text(media["altText"])));
            }
            else if (content["multiImage"]?["images"] is JsonArray images)
            {
                if (images.Count is < 2 or > 20)
                {
                    return ValidationError("/content/multiImage/images", "INVALID_VALUE", "A MultiImage post has 2 to 20 images");
                }

                references.AddRange(images.Select(i => (Text(i?["id"]) ?? "", Text(i?["altText"]))));
            }
        }

        FakeLinkedInPost post;
        lock (_lock)
        {
            var images = new List<FakeLinkedInImage>();
            FakeLinkedInVideo? posted = null;
            if (references is [var (videoUrn, _)] && videoUrn.StartsWith("urn:li:video:", StringComparison.Ordinal))
            {
                if (!_videos.TryGetValue(videoUrn, out var video) || video.Owner != author || video.Status != "AVAILABLE")
                {
                    return ValidationError("/content/media/id", "INVALID_VALUE", $"{videoUrn} is not an available video of {author}");
                }

                posted = new FakeLinkedInVideo(videoUrn, video.Owner, video.Bytes!);
                references.Clear();
            }

            foreach (var (urn, alt) in references)
            {
                if (!_images.TryGetValue(urn, out var image) || image.Bytes is null || image.Owner != author)
                {
                    return ValidationError("/content", "INVALID_VALUE", $"{urn} is not an uploaded image of {author}");
                }

                images.Add(image with { AltText = alt });
            }

            if (_posts.FirstOrDefault(p => p.Author == author && p.Commentary == commentary) is { } duplicate)
            {
                return Results.Json(new JsonObject
                {
                    ["errorDetailType"] = "com.linkedin.common.error.BadRequest",
                    ["message"] = $"com.linkedin.content.common.exception.BadRequestResponseException: Content is a duplicate of {duplicate.Urn}",
                    ["errorDetails"] = new JsonObject
                    {
                        ["inputErrors"] = new JsonArray(new JsonObject { ["description"] = "Duplicate post is detected", ["input"] = new JsonObject(), ["code"] = "DUPLICATE_POST" }),
                    },
                    ["status"] = 422,
                }, statusCode: 422);
            }

            post = new FakeLinkedInPost(NewUrn("share"), author, commentary ?? "", text, images, Clock.GetUtcNow(), posted);
            _posts.Add(post);
        }

        if (Interlocked.Decrement(ref _loseNext) >= 0)
        {
            // Made, and the answer lost on the way: the connection breaks before the status line.
            context.Abort();
            return Results.Empty;
        }

        Interlocked.Exchange(ref _loseNext, 0);
        context.Response.Headers["x-restli-id"] = post.Urn;
        return Results.StatusCode(201);
    }

    private IResult FindPosts(HttpContext context)
    {
        if (Authenticate(context, rest: true, out var grant) is { } refused)
        {
            return refused;
        }

        var q = context.Request.Query;
        string? author = q["author"];
        if (q["q"] != "author" || author is null)
        {
            return ApiError(400, "ILLEGAL_ARGUMENT", "q=author and author are required");
        }

        // A member's posts need r_member_social (granted to approved apps only), a page's r_organization_social and a role.
        bool allowed = author.StartsWith("urn:li:person:", StringComparison.Ordinal)
            ? author == PersonUrn && grant!.Scopes.Contains("r_member_social")
            : grant!.Scopes.Contains("r_organization_social") && Organizations.Any(o => o.Urn == author && PostingRoles.Contains(o.Role));
        if (!allowed)
        {
            return ApiError(403, "ACCESS_DENIED", "Not enough permissions to access: partnerApiPostsExternal.FINDER-author");
        }

        int start = int.TryParse(q["start"], CultureInfo.InvariantCulture, out int s) ? s : 0;
        int count = Math.Min(int.TryParse(q["count"], CultureInfo.InvariantCulture, out int c) ? c : 10, 100);
        List<FakeLinkedInPost> posts;
        lock (_lock)
        {
            // LAST_MODIFIED (the default) and CREATED are the same order here: posts are never edited.
            posts = [.. _posts.Where(p => p.Author == author).OrderByDescending(p => p.CreatedAt).ThenByDescending(p => p.Urn, StringComparer.Ordinal)];
        }

        return Results.Json(new
        {
            paging = new { start, count, links = Array.Empty<object>() },
            elements = posts.Skip(start).Take(count).Select(ToJson),
        });
    }

    private static JsonObject ToJson(FakeLinkedInPost post)
    {
        long at = post.CreatedAt.ToUnixTimeMilliseconds();
        var json = new JsonObject
        {
            ["id"] = post.Urn,
            ["author"] = post.Author,
            ["commentary"] = post.Commentary,
            ["visibility"] = "PUBLIC",
            ["lifecycleState"] = "PUBLISHED",
            ["distribution"] = new JsonObject { ["feedDistribution"] = "MAIN_FEED" },
            ["createdAt"] = at,
            ["publishedAt"] = at,
            ["lastModifiedAt"] = at,
            ["isReshareDisabledByAuthor"] = false,
        };
        var images = post.Images.Select(i => (JsonNode)new JsonObject { ["id"] = i.Urn, ["altText"] = i.AltText ?? "" }).ToArray();
        if (post.Video is { } video)
        {
            json["content"] = new JsonObject { ["media"] = new JsonObject { ["id"] = video.Urn } };
        }
        else if (images.Length == 1)
        {
            json["content"] = new JsonObject { ["media"] = images[0] };
        }
        else if (images.Length > 1)
        {
            json["content"] = new JsonObject { ["multiImage"] = new JsonObject { ["images"] = new JsonArray(images) } };
        }

        return json;
    }

    private IResult DeletePost(HttpContext context, string urn)
    {
        if (Authenticate(context, rest: true, out var grant) is { } refused)
        {
            return refused;
        }

        if (context.Request.Headers["X-RestLi-Method"] != "DELETE")
        {
            return ApiError(400, "BAD_REQUEST", "X-RestLi-Method: DELETE is required");
        }

        lock (_lock)
        {
            if (_deleteFailures.TryDequeue(out var failure))
            {
                if (failure.RetryAfter is { } after)
                {
                    context.Response.Headers.RetryAfter = ((int)after.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
                }

                return ApiError(failure.Status, failure.Status == 429 ? "TOO_MANY_REQUESTS" : "SCRIPTED", failure.Status == 429 ? ThrottleMessage : "A scripted failure");
            }

            if (_deleted.Any(p => p.Urn == urn))
            {
                return Results.StatusCode(204);
            }

            if (_posts.Find(p => p.Urn == urn) is not { } post)
            {
                return ApiError(404, "NOT_FOUND", $"Post {urn} does not exist");
            }

            if (MayActAs(grant!, post.Author) is { } forbidden)
            {
                return forbidden;
            }

            _posts.Remove(post);
            _deleted.Add(post);
            return Results.StatusCode(204);
        }
    }

    // ---- helpers ----

    private IResult? Authenticate(HttpContext context, bool rest, out Grant? grant)
    {
        grant = null;
        string? header = context.Request.Headers.Authorization;
        if (header is null || !header.StartsWith("Bearer ", StringComparison.Ordinal) || header.Length == "Bearer ".Length)
        {
            return ApiError(401, "EMPTY_ACCESS_TOKEN", "Empty oauth2_access_token");
        }

        lock (_lock)
        {
            if (!_tokens.TryGetValue(header["Bearer ".Length..], out var token))
            {
                return ApiError(401, "INVALID_ACCESS_TOKEN", "Invalid access token");
            }

            if (token.Grant.Revoked)
            {
                return ApiError(401, "REVOKED_ACCESS_TOKEN", "The token used in the request has been revoked by the user");
            }

            if (token.ExpiresAt <= Clock.GetUtcNow())
            {
                return ApiError(401, "EXPIRED_ACCESS_TOKEN", "The token used in the request has expired");
            }

            grant = token.Grant;
        }

        if (rest)
        {
            string? version = context.Request.Headers["LinkedIn-Version"];
            if (version is not { Length: 6 } || !version.All(char.IsAsciiDigit))
            {
                return ApiError(400, "VERSION_MISSING", "A version must be present. Please specify a version by adding the LinkedIn-Version header.");
            }

            if (context.Request.Headers["X-Restli-Protocol-Version"] != "2.0.0")
            {
                return ApiError(400, "BAD_REQUEST", "X-Restli-Protocol-Version: 2.0.0 is required");
            }
        }

        return null;
    }

    private static IResult? MayActAs(Grant grant, string author)
    {
        if (author.StartsWith("urn:li:person:", StringComparison.Ordinal))
        {
            return author == PersonUrn && grant.Scopes.Contains("w_member_social")
                ? null
                : ApiError(403, "ACCESS_DENIED", "Not enough permissions to access: partnerApiPostsExternal.CREATE");
        }

        return grant.Scopes.Contains("w_organization_social") && Organizations.Any(o => o.Urn == author && PostingRoles.Contains(o.Role))
            ? null
            : ApiError(403, "ACCESS_DENIED", $"Member is not an administrator of {author}");
    }

    public static IResult ApiError(int status, string code, string message)
        => Results.Json(new { status, serviceErrorCode = status, code, message }, statusCode: status);

    private static IResult ValidationError(string path, string code, string description)
        => Results.Json(new JsonObject
        {
            ["errorDetailType"] = "com.linkedin.common.error.BadRequest",
            ["message"] = $"Validation failed: {description}",
            ["errorDetails"] = new JsonObject
            {
                ["inputErrors"] = new JsonArray(new JsonObject
                {
                    ["description"] = description,
                    ["input"] = new JsonObject { ["inputPath"] = new JsonObject { ["fieldPath"] = path } },
                    ["code"] = code,
                }),
            },
            ["status"] = 422,
        }, statusCode: 422);

    /// <summary>
    /// How a commentary in the little format reads: an escaped reserved character stands for itself, <c>#word</c> is a
    /// hashtag; an unescaped reserved character anywhere else cuts the text there (what LinkedIn does with one).
    /// </summary>
    public static string Render(string commentary)
    {
        var text = new StringBuilder(commentary.Length);
        for (int i = 0; i < commentary.Length; i++)
        {
            char c = commentary[i];
            if (c == '\\' && i + 1 < commentary.Length && ReservedCharacters.Contains(commentary[i + 1]))
            {
                text.Append(commentary[++i]);
            }
            else if (c == '#' && i + 1 < commentary.Length && char.IsLetterOrDigit(commentary[i + 1]))
            {
                text.Append(c);
            }
            else if (ReservedCharacters.Contains(c))
            {
                break;
            }
            else
            {
                text.Append(c);
            }
        }

        return text.ToString();
    }

    private static string Escape(string text)
    {
        var escaped = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            if (ReservedCharacters.Contains(c))
            {
                escaped.Append('\\');
            }

            escaped.Append(c);
        }

        return escaped.ToString();
    }

    private static string? Text(JsonNode? node) => node is JsonValue value && value.TryGetValue(out string? text) ? text : null;

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

    private string NewAccessToken(Grant grant)
    {
        string token = NewToken("AQV");
        _tokens[token] = new AccessToken(grant, Clock.GetUtcNow() + AccessTokenLifetime);
        return token;
    }

    private string NewToken(string prefix) => $"{prefix}-{Interlocked.Increment(ref _lastId)}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}";

    private string NewUrn(string kind)
        => $"urn:li:{kind}:{(kind == "share" ? (7_000_000_000_000_000_000L + Interlocked.Increment(ref _lastId)).ToString(CultureInfo.InvariantCulture) : $"C4D{Interlocked.Increment(ref _lastId)}AQ")}";

    private static string Base64UrlEncode(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
