using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.AspNetCore.Routing;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Health;
using ScheduledPosts.ServiceDefaults.Http;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.ServiceDefaults.Json;
using ScheduledPosts.ServiceDefaults.OpenApi;
using ScheduledPosts.ServiceDefaults.Telemetry;

namespace ScheduledPosts.ServiceDefaults;

public static class Extensions
{
    /// <summary>
    /// What every service has: the error envelope, request ids, JSON conventions, request body limits, health checks,
    /// OpenTelemetry, and an OpenAPI document of its REST endpoints. Each process adds its side of the internal identity:
    /// <see cref="InternalIdentityExtensions.AddInternalIdentity"/> to receive it, <see cref="InternalIdentityExtensions.AddInternalTokenIssuer"/> to sign it.
    /// </summary>
    public static IHostApplicationBuilder AddServiceDefaults(this IHostApplicationBuilder builder)
    {
        builder.AddDevelopmentSecrets();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddExceptionHandler<ErrorEnvelopeExceptionHandler>();
        builder.Services.AddProblemDetails();
        builder.Services.ConfigureHttpJsonOptions(o => JsonDefaults.Configure(o.SerializerOptions));
        // Bad bodies and parameters throw in every environment, so the envelope says what was wrong (not just "400").
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.AddOptions<RequestLimitsOptions>()
            .BindConfiguration(RequestLimitsOptions.Section)
            .Validate(o => o.MaxBodyBytes > 0, "RequestLimits:MaxBodyBytes must be positive.")
            .ValidateOnStart();
        builder.Services.AddHealthChecks();
        builder.AddTelemetry();
        builder.Services.AddServiceOpenApi(builder.Environment.ApplicationName);
        return builder;
    }

    /// <summary>
    /// Request ids (returned, logged, on the trace), the envelope for every failure, the request body limit, and (for
    /// the services behind the gateway) authentication of the internal identity and authorization by its policies
    /// (see <see cref="InternalPolicies"/>). The gateway, which establishes identities, passes <paramref name="requireInternalIdentity"/> false.
    /// </summary>
    public static WebApplication UseServiceDefaults(this WebApplication app, bool requireInternalIdentity = true)
    {
        // Routing first (as WebApplication does by default): the body limit and the gateway's checks look at the matched endpoint.
        app.UseRouting();
        app.UseMiddleware<RequestIdMiddleware>();
        app.UseExceptionHandler();
        // Failures decided before an endpoint runs (no route, wrong method or content type) get the envelope too.
        app.UseStatusCodePages(context =>
        {
            var response = context.HttpContext.Response;
            if (response.HasStarted || response.ContentLength > 0 || response.ContentType is not null)
            {
                return Task.CompletedTask;
            }

            // docs/api.md#errors: a wrong content type is a 400 BAD_REQUEST.
            int status = response.StatusCode == StatusCodes.Status415UnsupportedMediaType ? StatusCodes.Status400BadRequest : response.StatusCode;
            return ErrorEnvelope.Write(context.HttpContext, status, CodeFor(status), MessageFor(response.StatusCode));
        });
        app.UseMiddleware<RequestBodyLimit>();
        if (requireInternalIdentity)
        {
            app.UseAuthentication();
            app.UseAuthorization();
        }

        app.UseMiddleware<Utf8JsonBody>();

        return app;
    }

    /// <summary>
    /// <c>/healthz</c>: the process is alive. <c>/readyz</c>: its database and broker answer, and what it watches of its
    /// own work (<see cref="Readiness"/>). <c>/metrics</c>: its metrics in Prometheus' text format, open to whoever reaches
    /// the service's own port unless <paramref name="protectMetrics"/> says otherwise (the gateway's port is public).
    /// <c>/openapi/v1.json</c>: the service's own REST endpoints, behind the internal identity like everything else (the
    /// gateway fetches it with its own signed identity to build the public <c>/openapi.json</c>).
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app, Action<IEndpointConventionBuilder>? protectMetrics = null)
    {
        // Probes need no identity; everything else does (the fallback policy of AddInternalIdentity).
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false }).AllowAnonymous();
        app.MapHealthChecks("/readyz", Readiness.Options).AllowAnonymous();
        var metrics = app.MapPrometheusScrapingEndpoint("/metrics");
        (protectMetrics ?? (m => m.AllowAnonymous()))(metrics);
        app.MapOpenApi(OpenApiDefaults.DocumentPath);
        return app;
    }

    private static string MessageFor(int status) => status switch
    {
        404 => "No such route.",
        405 => "This route does not accept that method.",
        413 => "The request body is too large.",
        415 => "The request body must be JSON (Content-Type: application/json).",
        _ => "The request could not be served.",
    };

    private static string CodeFor(int status) => status switch
    {
        400 => "BAD_REQUEST",
        401 => "UNAUTHENTICATED",
        403 => "FORBIDDEN_SCOPE",
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        409 => "CONFLICT",
        412 => "PRECONDITION_FAILED",
        413 => "PAYLOAD_TOO_LARGE",
        415 => "BAD_REQUEST",
        422 => "VALIDATION",
        429 => "RATE_LIMITED",
        502 or 503 or 504 => "UNAVAILABLE",
        _ => status >= 500 ? "INTERNAL" : "BAD_REQUEST",
    };
}
