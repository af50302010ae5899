using Microsoft.Net.Http.Headers;
using Npgsql;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Gateway.ApiKeys;

/// <summary>
/// Every <c>/v1</c> request needs an active API key (<c>Authorization: Bearer</c> or <c>X-Api-Key</c>), and, for an
/// endpoint that declares a <see cref="ResourceScope"/>, the scope its method asks. Runs after routing, before endpoints.
/// </summary>
public sealed class ApiKeyAuthentication(RequestDelegate next, ApiKeyStore keys, ILogger<ApiKeyAuthentication> logger)
{
    public const string ApiKeyHeader = "X-Api-Key";
    private const string BearerPrefix = "Bearer ";

    public async Task InvokeAsync(HttpContext context)
    {
        if (!context.Request.Path.StartsWithSegments("/v1"))
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

        InternalIdentity? caller;
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
            logger.LogError(e, "API key lookup failed");
            await ErrorEnvelope.Write(context, StatusCodes.Status503ServiceUnavailable, "UNAVAILABLE",
                "API keys cannot be verified right now; try again shortly.");
            return;
        }

        if (caller is null)
        {
            await Unauthenticated(context, "The API key is not valid or has been revoked.");
            return;
        }

        if (context.GetEndpoint()?.Metadata.GetMetadata<ResourceScope>() is { } resource)
        {
            string required = Scopes.Required(resource.Resource, context.Request.Method);
            if (!caller.HasScope(required))
            {
                await ErrorEnvelope.Write(context, StatusCodes.Status403Forbidden, "FORBIDDEN_SCOPE",
                    $"This API key lacks the {required} scope.");
                return;
            }
        }

        context.Items[typeof(InternalIdentity)] = caller;
        await next(context);
    }

    /// <summary>The caller this middleware authenticated, if any.</summary>
    public static InternalIdentity? Caller(HttpContext context) => context.Items[typeof(InternalIdentity)] as InternalIdentity;

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
}
