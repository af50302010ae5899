using System.Text.Json;
using Scalar.AspNetCore;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Gateway.OpenApi;

public static partial class PublicApiEndpoints
{
    public const string DocumentPath = "/openapi.json";
    public const string DocsPath = "/docs";

    /// <summary><c>/openapi.json</c>, the whole public API; <c>/docs</c>, Scalar's reference page over it (its assets served from here).</summary>
    public static IEndpointRouteBuilder MapPublicApiDocs(this IEndpointRouteBuilder app)
    {
        app.MapGet(DocumentPath, async (HttpContext http, PublicApiDocument documents, ILogger<PublicApiDocument> logger) =>
        {
            try
            {
                var document = await documents.GetAsync(http.RequestAborted);
                // Calls from the reference page go where the document was fetched from.
                document["servers"] = new System.Text.Json.Nodes.JsonArray(
                    new System.Text.Json.Nodes.JsonObject { ["url"] = $"{http.Request.Scheme}://{http.Request.Host}" });
                http.Response.ContentType = "application/json; charset=utf-8";
                await http.Response.WriteAsync(document.ToJsonString(Indented), http.RequestAborted);
            }
            catch (ServiceDocumentUnavailableException e)
            {
                Log.DocumentUnavailable(logger, e.InnerException, e.Message);
                await ErrorEnvelope.WriteUnavailable(http, $"{e.Message} Try again shortly.");
            }
        }).ExcludeFromDescription();

        app.MapScalarApiReference(DocsPath, options =>
        {
            options.WithTitle("ScheduledPosts API").AddDocument("v1", "ScheduledPosts API", DocumentPath);
            // A self-hosted page: nothing phones home, no hosted AI chat.
            options.Telemetry = false;
            options.Agent = new ScalarAgentOptions { Disabled = true };
        });
        return app;
    }

    // Served as application/json, never embedded in HTML: no need to escape <, > and quotes into \uXXXX.
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "{Message}")]
        public static partial void DocumentUnavailable(ILogger logger, Exception? exception, string message);
    }
}
