using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Gateway.ApiKeys;

/// <summary>
/// For an endpoint that declares a <see cref="ResourceScope"/> (every proxied route and the gateway's own
/// <c>/v1</c> endpoints), the authenticated key must hold the scope the method asks: 403 <c>FORBIDDEN_SCOPE</c> otherwise.
/// </summary>
public sealed class ScopeAuthorization(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (ApiKeyAuthentication.Caller(context) is { } caller
            && context.GetEndpoint()?.Metadata.GetMetadata<ResourceScope>() is { } resource)
        {
            string required = Scopes.Required(resource.Resource, context.Request.Method);
            if (!caller.HasScope(required))
            {
                return ErrorEnvelope.Write(context, StatusCodes.Status403Forbidden, "FORBIDDEN_SCOPE",
                    $"This API key lacks the {required} scope.");
            }
        }

        return next(context);
    }
}
