using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace ScheduledPosts.ServiceDefaults.Telemetry;

public static class TelemetryExtensions
{
    /// <summary>The prefix of the project's own <see cref="System.Diagnostics.ActivitySource"/>s and meters: all are exported.</summary>
    public const string SourcePrefix = "ScheduledPosts.";

    /// <summary>
    /// OpenTelemetry traces and metrics for every service: incoming HTTP and gRPC (ASP.NET Core), outgoing HTTP and
    /// gRPC, MassTransit and YARP (Npgsql's are added by the data defaults). W3C trace context flows through all of them (MassTransit carries it in
    /// message headers). Metrics are also served in Prometheus' text format at <c>/metrics</c> (see
    /// <see cref="Extensions.MapDefaultEndpoints"/>). Exported over OTLP only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set; the standard
    /// <c>OTEL_*</c> variables configure the exporter and may rename the service (<c>OTEL_SERVICE_NAME</c>).
    /// </summary>
    public static IHostApplicationBuilder AddTelemetry(this IHostApplicationBuilder builder)
    {
        // Console logs carry the scopes: the trace id, the request path and the X-Request-Id (see RequestIds).
        builder.Services.Configure<SimpleConsoleFormatterOptions>(o => o.IncludeScopes = true);

        bool export = !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource =>
            {
                if (string.IsNullOrWhiteSpace(builder.Configuration["OTEL_SERVICE_NAME"]))
                {
                    resource.AddService(builder.Environment.ApplicationName);
                }
            })
            .WithTracing(tracing => tracing
                .AddAspNetCoreInstrumentation(o => o.Filter = context => !IsProbe(context.Request.Path))
                .AddHttpClientInstrumentation()
                .AddSource("Grpc.Net.Client")
                .AddSource("MassTransit")
                .AddSource("Yarp.ReverseProxy")
                .AddSource(SourcePrefix + "*"))
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter("MassTransit")
                .AddMeter(SourcePrefix + "*")
                .AddPrometheusExporter());

        if (export)
        {
            builder.Logging.AddOpenTelemetry(o =>
            {
                o.IncludeScopes = true;
                o.IncludeFormattedMessage = true;
            });
            telemetry.UseOtlpExporter();
        }

        return builder;
    }

    // Probes every few seconds would drown the traces that matter.
    private static bool IsProbe(PathString path) =>
        path.StartsWithSegments("/healthz") || path.StartsWithSegments("/readyz") || path.StartsWithSegments("/metrics");
}
