using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Npgsql;
using ScheduledPosts.Gateway.Dialects;
using ScheduledPosts.Gateway.RateLimiting;

namespace ScheduledPosts.Gateway.ApiKeys;

/// <summary>
/// The gateway's default authentication scheme: the API key of a <c>/v1</c> request or a public gRPC call (<c>Authorization: Bearer</c> or
/// <c>X-Api-Key</c>, as headers or gRPC metadata), looked up by its hash (<see cref="ApiKeyStore"/>). Authorization then asks for it (every
/// <c>/v1</c> endpoint, see <see cref="ScopePolicies"/>), and its challenge answers 401 <c>UNAUTHENTICATED</c> — or 429
/// when the client's address has used up its failed attempts (<see cref="FailedAuthenticationLimiter"/>: a key the
/// gateway does not know from that address is then refused without a database lookup), or 503 when the keys cannot
/// be read.
/// </summary>
public sealed partial class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory loggerFactory, UrlEncoder encoder,
    ApiKeyStore keys, FailedAuthenticationLimiter failures)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string ApiKeyHeader = "X-Api-Key";
    private const string BearerPrefix = "Bearer ";

    /// <summary>Why a presented key was not accepted; the challenge answers accordingly.</summary>
    private sealed class Refusal(int status, string message) : Exception(message)
    {
        public int Status { get; } = status;
    }

    /// <summary>REST under <c>/v1</c>, the base path of each <see cref="Dialect"/>, and the public gRPC services (<see cref="Proxy.GrpcPort"/>).</summary>
    public static bool IsPublicApi(PathString path) => path.StartsWithSegments("/v1") || Dialect.Of(path) is not null || Proxy.GrpcPort.IsPublicApi(path);

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!IsPublicApi(Request.Path) || KeyFrom(Request) is not { } key)
        {
            return AuthenticateResult.NoResult();
        }

        string address = FailedAuthenticationLimiter.PartitionOf(Context.Connection.RemoteIpAddress);
        ApiKeyStore.Lookup? lookup = keys.Cached(key);
        if (lookup is null && failures.IsExhausted(address))
        {
            // Nothing the gateway knows: from an address that has failed too often, not worth a database query.
            return Refused(StatusCodes.Status429TooManyRequests, TooManyFailures());
        }

        try
        {
            lookup ??= await keys.LookUpAsync(key, Context.RequestAborted);
        }
        catch (OperationCanceledException) when (Context.RequestAborted.IsCancellationRequested)
        {
            return AuthenticateResult.NoResult(); // the client left
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            Log.LookupFailed(Logger, e);
            return Refused(StatusCodes.Status503ServiceUnavailable, "API keys cannot be verified right now; try again shortly.");
        }

        if (lookup.Caller is not { } caller)
        {
            failures.Record(address);
            return Refused(StatusCodes.Status401Unauthorized, "The API key is not valid or has been revoked.");
        }

        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ApiKeyIdentity(caller)), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        switch (result.Failure)
        {
            case Refusal { Status: StatusCodes.Status429TooManyRequests } refusal:
                Response.Headers.RetryAfter = failures.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                await GatewayErrors.Write(Context, refusal.Status, "RATE_LIMITED", refusal.Message);
                return;
            case Refusal { Status: StatusCodes.Status503ServiceUnavailable } refusal:
                await GatewayErrors.WriteUnavailable(Context, refusal.Message);
                return;
            case Refusal refusal:
                await Unauthenticated(refusal.Message);
                return;
            default:
                await Unauthenticated("An API key is required: send Authorization: Bearer <key> or X-Api-Key: <key>.");
                return;
        }
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
        => GatewayErrors.Write(Context, StatusCodes.Status403Forbidden, "FORBIDDEN_SCOPE", "This API key lacks the scope this operation needs.");

    private string TooManyFailures()
        => $"Too many requests with invalid API keys from this address; retry after {failures.RetryAfterSeconds} s.";

    private static AuthenticateResult Refused(int status, string message) => AuthenticateResult.Fail(new Refusal(status, message));

    private Task Unauthenticated(string message)
    {
        Response.Headers[HeaderNames.WWWAuthenticate] = "Bearer";
        return GatewayErrors.Write(Context, StatusCodes.Status401Unauthorized, "UNAUTHENTICATED", message);
    }

    private static string? KeyFrom(HttpRequest request)
    {
        string authorization = request.Headers.Authorization.ToString();
        string key = authorization.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase)
            ? authorization[BearerPrefix.Length..]
            : request.Headers[ApiKeyHeader].ToString();
        key = key.Trim();
        return key.Length > 0 ? key : null;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "API key lookup failed")]
        public static partial void LookupFailed(ILogger logger, Exception exception);
    }
}

/// <summary>The identity of a request authenticated with an API key: its <see cref="ApiKeyCaller"/>.</summary>
public sealed class ApiKeyIdentity(ApiKeyCaller caller) : ClaimsIdentity(ApiKeyAuthenticationHandler.SchemeName)
{
    public ApiKeyCaller Caller { get; } = caller;
}
