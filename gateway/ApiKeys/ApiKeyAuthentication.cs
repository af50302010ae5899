using Microsoft.Net.Http.Headers;
using Npgsql;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Gateway.ApiKeys;

/// <summary>
/// Every <c>/v1</c> request needs an active API key (<c>Authorization: Bearer</c> or <c>X-Api-Key</c>): 401 otherwise.
/// Runs after routing; the rate limit and the scope check follow.
/// </summary>
public sealed partial class ApiKeyAuthentication(RequestDelegate next, ApiKeyStore keys, ILogger<ApiKeyAuthentication> logger)
{
    public const string ApiKeyHeader = "X-Api-Key";
    private const string BearerPrefix = "Bearer ";

    public async Task InvokeAsync(HttpContext context)
    {
        if (!IsPublicApi(context.Request.Path))
        {
            await next(context);
            return;
        }

        string? key = KeyFrom(context.Request);
        if (key is null)
        {
            await Unauthenticated(context, "An API key is required: send Authorization: Bearer <key> or X-Api-Key: <key>.");
            return;
        }

        ApiKeyCaller? caller;
        try
        {
            caller = await keys.FindActiveAsync(key, context.RequestAborted);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return; // the client left
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            Log.LookupFailed(logger, e);
            await ErrorEnvelope.WriteUnavailable(context, "API keys cannot be verified right now; try again shortly.");
            return;
        }

        if (caller is null)
        {
            await Unauthenticated(context, "The API key is not valid or has been revoked.");
            return;
        }

        context.Items[typeof(ApiKeyCaller)] = caller;
        await next(context);
    }

    public static bool IsPublicApi(PathString path) => path.StartsWithSegments("/v1");

    /// <summary>The caller this middleware authenticated, if any.</summary>
    public static ApiKeyCaller? Caller(HttpContext context) => context.Items[typeof(ApiKeyCaller)] as ApiKeyCaller;

    private static string? KeyFrom(HttpRequest request)
    {
        string authorization = request.Headers.Authorization.ToString();
        string key = authorization.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase)
            ? authorization[BearerPrefix.Length..]
            : request.Headers[ApiKeyHeader].ToString();
        key = key.Trim();
        return key.Length > 0 ? key : null;
    }

    private static Task Unauthenticated(HttpContext context, string message)
    {
        context.Response.Headers[HeaderNames.WWWAuthenticate] = "Bearer";
        return ErrorEnvelope.Write(context, StatusCodes.Status401Unauthorized, "UNAUTHENTICATED", message);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "API key lookup failed")]
        public static partial void LookupFailed(ILogger logger, Exception exception);
    }
}
